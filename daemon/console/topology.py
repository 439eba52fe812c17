"""The topology as a graph with a layout (pure): tenants, apps, Services, Ingress domains,
Volumes and autoscalers, the allowed flows between them, and the live status of each app.

What is drawn stays within a node budget, whatever the platform's size (Argo CD's UI slows to
minutes at 14,000 resources; a page here is a few hundred nodes at most):

* the whole platform: every app with its parts while that fits; else apps without their parts
  (their counts stay on the app); else one node per tenant (apps, ready replicas, flows between
  tenants summed up); else one node per group of tenants;
* one tenant (``focus=tenant``): its apps and parts, and the apps of other tenants its flows reach
  or come from, inside boxes of their tenants;
* one app: the app, its parts, and every app and outside endpoint it talks to.

Flows come from :func:`daemon.policy.reachability.reachability` over the rendered objects (the
same analysis merge-request reviews report), folded by app by :func:`app_flows`, so a drawn flow
is what the NetworkPolicies allow. Flows inside one tenant that every app has (the default "same
tenant" rule) are drawn only when the view is about one app; otherwise the tenant says how many
of its apps talk freely to each other, and only restricted apps get their arrows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from daemon.console.live import AppLive
from daemon.model.kinds import App, PlatformModel
from daemon.policy.reachability import ANY_ADDRESS, ANY_POD, Addresses, AppEnd, AppId, ClusterPods, Ports, Reachability

__all__ = ["DEFAULT_BUDGET", "AppFlow", "Edge", "Focus", "Graph", "Node", "app_flows", "build"]

DEFAULT_BUDGET = 300
#: Where a flow ends in a tenant the viewer may not see (never a namespace name: it has a space).
HIDDEN_TENANT = "another tenant"
_HIDDEN = ClusterPods(HIDDEN_TENANT)

NodeKind = Literal["tenant", "app", "service", "ingress", "volume", "autoscaler", "external", "group", "more"]
Health = Literal["ok", "progressing", "degraded", "missing", "unknown"]

# Layout, in SVG user units.
_PAD = 16
_APP_W, _APP_H = 190, 58
_PART_W, _PART_H, _PART_GAP = 168, 20, 4
_ROW_GAP = 14
_TENANT_W = _PAD + _APP_W + 36 + _PART_W + _PAD
_TENANT_HEAD = 44
_COL_GAP = 90
_EXT_W, _EXT_H = 170, 40
_GROUP_W, _GROUP_H = 210, 64
_MAX_COLUMNS = 4


@dataclass
class Node:
    id: str
    kind: NodeKind
    label: str
    sub: str = ""  # a second line: status, ports, size
    tenant: str = ""
    app: str = ""
    health: Health = "unknown"
    detail: str = ""  # the tooltip
    href: str = ""  # where clicking leads (focus on it)
    x: float = 0
    y: float = 0
    w: float = 0
    h: float = 0


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: Literal["flow", "part"]
    label: str = ""
    cross: bool = False  # between tenants


@dataclass(frozen=True)
class Focus:
    tenant: str | None = None
    app: str | None = None  # needs ``tenant``


@dataclass
class Graph:
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    width: float = 0
    height: float = 0
    #: how the view was cut down, for people ("grouped 333 tenants...")
    notes: list[str] = field(default_factory=list)
    level: Literal["parts", "apps", "tenants", "groups"] = "parts"
    total_apps: int = 0


# --- status ------------------------------------------------------------------------------------


def app_status(app: App, live: AppLive | None, *, live_known: bool) -> tuple[Health, str, str]:
    """(health, one line for the node, a longer text for the tooltip)."""
    if live is None or not live.tracks:
        if not live_known:
            return "unknown", "status unknown", "live state is not available"
        return "missing", "not in the cluster", "no workload in the cluster yet (not applied, or waiting)"
    parts = [f"{live.ready}/{live.desired} ready"]
    details = [f"{t.name}: {t.ready}/{t.desired} ready, {t.updated} updated" for t in live.tracks]
    health: Health = "ok" if live.ready >= live.desired else "degraded"
    if live.rolling:
        health = "progressing"
        parts.append("rolling out")
    canary = live.canary
    if app.canary is not None:
        share = f"canary {app.canary.weight}%"
        if canary is not None and live.desired:
            share += f" ({canary.ready}/{canary.desired})"
        parts.append(share)
    if live.hpa_desired is not None:
        details.append(f"autoscaler: {live.hpa_current} now, wants {live.hpa_desired}")
    return health, " · ".join(parts), "\n".join(details)


# --- building ----------------------------------------------------------------------------------


def _app_id(tenant: str, app: str) -> str:
    return f"app:{tenant}/{app}"


def _ports_label(ports: Ports) -> str:
    """``any port``, or the ports (TCP by number alone, others as ``UDP/53``), four at most."""
    if ports.is_all:
        return "any port"
    shown = []
    for protocol, ranges in ports.ranges:
        for first, last in ranges:
            number = str(first) if first == last else f"{first}-{last}"
            shown.append(number if protocol == "TCP" else f"{protocol}/{number}")
    if ports.others:
        shown.append("other protocols")
    return ", ".join(shown[:4]) + (f" +{len(shown) - 4}" if len(shown) > 4 else "")


def _drawn_outside(end: AppEnd) -> ClusterPods | Addresses | None:
    """``end`` when it is an outside end that gets a node of its own: "anything" (a side no policy
    restricts) and the DNS (every strict tenant has it) are left to the tenants' notes, as drawing
    them hides the rest."""
    if isinstance(end, AppId) or end in (ANY_POD, ANY_ADDRESS):
        return None
    if isinstance(end, ClusterPods) and end.namespaces == "kube-system":
        return None
    return end


def _external(end: ClusterPods | Addresses, ingress_namespace: str) -> Node:
    if end == _HIDDEN:
        return Node("ext:hidden", "external", "another tenant", "not shown to you", detail="a tenant you do not see")
    if isinstance(end, Addresses):
        return Node(
            f"ext:cidr:{','.join(end.cidrs)}", "external", ", ".join(end.cidrs), "address range", detail=end.describe()
        )
    if end.namespaces == ingress_namespace:
        label, sub = "ingress controller", end.namespaces
    else:
        label, sub = f"namespace {end.namespaces}", "outside the tenants"
    return Node(f"ext:ns:{end.namespaces}", "external", label, sub, detail=end.describe())


def _parts(model: PlatformModel, app: App) -> list[Node]:
    tenant, name = app.tenant, app.name
    parts = []
    if app.ports:
        ports = ", ".join(f"{p.port}/{p.protocol}" if p.protocol != "TCP" else str(p.port) for p in app.ports)
        parts.append(
            Node(
                f"svc:{tenant}/{name}", "service", f"svc {name}", ports, tenant, name, detail=f"Service {name}: {ports}"
            )
        )
    if app.domains and app.ports:
        shown = app.domains[0] + (f" +{len(app.domains) - 1}" if len(app.domains) > 1 else "")
        parts.append(
            Node(
                f"ing:{tenant}/{name}", "ingress", shown, "", tenant, name, detail="Ingress: " + ", ".join(app.domains)
            )
        )
    for mount in app.volumes:
        volume = next((v for v in model.volumes_of(tenant) if v.name == mount.volume), None)
        size = f"{volume.size} {volume.storage_class}" if volume else ""
        backup = " · backed up" if volume is not None and volume.backup is not None else ""
        parts.append(
            Node(
                f"vol:{tenant}/{mount.volume}:{name}",
                "volume",
                f"vol {mount.volume}",
                size + backup,
                tenant,
                name,
                detail=f"Volume {mount.volume} at {mount.mount_path}" + (f" ({size})" if size else ""),
                href=f"/backups?tenant={tenant}#vol-{mount.volume}",
            )
        )
    scaling = model.autoscaling_for(tenant, name)
    if scaling is not None:
        parts.append(
            Node(
                f"hpa:{tenant}/{scaling.name}",
                "autoscaler",
                f"hpa {scaling.min_replicas}-{scaling.max_replicas}",
                "",
                tenant,
                name,
                detail=f"Autoscaling {scaling.name}: {scaling.min_replicas} to {scaling.max_replicas} replicas",
            )
        )
    return parts


@dataclass
class _TenantBox:
    name: str
    title: str
    apps: list[App]
    hidden: int = 0  # apps of the tenant not shown
    note: str = ""


@dataclass(frozen=True)
class AppFlow:
    """``source`` may open connections to ``target`` on ``ports``, with workloads folded by app."""

    source: AppEnd
    target: AppEnd
    ports: Ports


def app_flows(reach: Reachability) -> list[AppFlow]:
    """The flows of :func:`~daemon.policy.reachability.reachability` by app (a canary track joins
    its app), between apps and to or from what lies outside them."""
    found = [AppFlow(s, t, p) for (s, t), p in reach.between_apps().items()]
    found += [AppFlow(s, t, p) for (s, t), p in reach.outside().items()]
    return found


def build(
    model: PlatformModel,
    flows: Sequence[AppFlow],
    live: Mapping[tuple[str, str], AppLive],
    *,
    visible: Iterable[str],
    focus: Focus = Focus(),
    budget: int = DEFAULT_BUDGET,
    live_known: bool = True,
) -> Graph:
    """The graph of the tenants in ``visible`` (nothing of any other tenant is ever in it: a flow
    to another tenant's app ends at a node that says only "another tenant")."""
    seen = set(visible)
    tenants = [t for t in model.tenants if t.name in seen]
    by_tenant = {t.name: list(model.apps_of(t.name)) for t in tenants}
    ingress_ns = model.platform.ingress.namespace
    graph = Graph(total_apps=sum(len(a) for a in by_tenant.values()))
    flows = [_hide_unseen(f, seen) for f in flows if _touches(f, seen)]

    if focus.tenant is not None and focus.app is not None:
        return _app_view(model, flows, live, graph, focus.tenant, focus.app, ingress_ns, budget, live_known)
    if focus.tenant is not None:
        return _tenant_view(model, flows, live, graph, by_tenant, focus.tenant, ingress_ns, budget, live_known)
    return _platform_view(model, flows, live, graph, by_tenant, ingress_ns, budget, live_known)


def _touches(flow: AppFlow, seen: set[str]) -> bool:
    return any(isinstance(end, AppId) and end.tenant in seen for end in (flow.source, flow.target))


def _hide_unseen(flow: AppFlow, seen: set[str]) -> AppFlow:
    """A flow's far end in a tenant the viewer may not see becomes an anonymous endpoint."""

    def hide(end: AppEnd) -> AppEnd:
        return _HIDDEN if isinstance(end, AppId) and end.tenant not in seen else end

    return AppFlow(hide(flow.source), hide(flow.target), flow.ports)


def _internal_everywhere(flows: Sequence[AppFlow], tenant: str, apps: Sequence[App]) -> set[tuple[str, str]]:
    """The (source, target) app pairs of ``tenant`` whose flow is the tenant's default rule: every
    other app of the tenant reaches the target on any port."""
    names = {a.name for a in apps}
    reach: dict[str, set[str]] = defaultdict(set)
    for f in flows:
        if (
            isinstance(f.source, AppId)
            and isinstance(f.target, AppId)
            and f.source.tenant == f.target.tenant == tenant
            and f.ports.is_all
        ):
            reach[f.target.app].add(f.source.app)
    open_targets = {t for t, sources in reach.items() if sources >= names - {t}}
    return {(s, t) for t in open_targets for s in names - {t}}


def _node_for_app(model: PlatformModel, app: App, live: Mapping[tuple[str, str], AppLive], live_known: bool) -> Node:
    health, sub, detail = app_status(app, live.get((app.tenant, app.name)), live_known=live_known)
    kind = "StatefulSet" if app.stateful else "Deployment"
    return Node(
        _app_id(app.tenant, app.name),
        "app",
        app.name,
        sub,
        app.tenant,
        app.name,
        health,
        f"{kind} {app.tenant}/{app.name}\nimage {app.image}\n{detail}",
        f"/topology?tenant={app.tenant}&app={app.name}",
    )


def _layout_boxes(
    graph: Graph,
    model: PlatformModel,
    boxes: Sequence[_TenantBox],
    live: Mapping[tuple[str, str], AppLive],
    *,
    with_parts: bool,
    live_known: bool,
    externals: Sequence[Node],
) -> None:
    """Tenant boxes in columns (each box into the shortest column), outside endpoints on the left."""
    left: float = _PAD
    if externals:
        y: float = _PAD + _TENANT_HEAD
        for ext in externals:
            ext.x, ext.y, ext.w, ext.h = left, y, _EXT_W, _EXT_H
            y += _EXT_H + _ROW_GAP
            graph.nodes.append(ext)
        left += _EXT_W + _COL_GAP
    width = _TENANT_W if with_parts else _PAD * 2 + _APP_W
    columns = max(1, min(_MAX_COLUMNS, len(boxes)))
    heights = [float(_PAD)] * columns
    for box in boxes:
        column = heights.index(min(heights))
        x, y0 = left + column * (width + _COL_GAP), heights[column]
        y = y0 + _TENANT_HEAD
        members: list[Node] = []
        for app in box.apps:
            node = _node_for_app(model, app, live, live_known)
            parts = _parts(model, app) if with_parts else []
            row = max(_APP_H, len(parts) * (_PART_H + _PART_GAP) - _PART_GAP)
            node.x, node.y, node.w, node.h = x + _PAD, y + (row - _APP_H) / 2, _APP_W, _APP_H
            if not with_parts:
                counts = _part_counts(model, app)
                if counts:
                    node.detail += f"\n{counts}"
            members.append(node)
            py = y
            for part in parts:
                part.x, part.y, part.w, part.h = x + _PAD + _APP_W + 36, py, _PART_W, _PART_H
                py += _PART_H + _PART_GAP
                members.append(part)
                graph.edges.append(Edge(node.id, part.id, "part"))
            y += row + _ROW_GAP
        if box.hidden:
            more = Node(
                f"more:{box.name}",
                "more",
                f"+{box.hidden} more apps",
                "focus on the tenant to see them" if box.note == "" else box.note,
                box.name,
                href=f"/topology?tenant={box.name}",
            )
            more.x, more.y, more.w, more.h = x + _PAD, y, _APP_W, 36
            members.append(more)
            y += 36 + _ROW_GAP
        height = max(y - y0, _TENANT_HEAD + 24) + _PAD - _ROW_GAP
        tenant = Node(
            f"tenant:{box.name}",
            "tenant",
            box.title,
            box.note if not box.hidden else "",
            box.name,
            href=f"/topology?tenant={box.name}",
        )
        tenant.x, tenant.y, tenant.w, tenant.h = x, y0, width, height
        graph.nodes.append(tenant)
        graph.nodes.extend(members)
        heights[column] = y0 + height + _COL_GAP / 2
    graph.width = left + columns * (width + _COL_GAP) - _COL_GAP + _PAD
    ext_bottom = max((n.y + n.h for n in externals), default=0)
    graph.height = max(*heights, ext_bottom + _PAD)


def _part_counts(model: PlatformModel, app: App) -> str:
    bits = []
    if app.ports:
        bits.append("Service")
    if app.domains:
        bits.append(f"{len(app.domains)} domain(s)")
    if app.volumes:
        bits.append(f"{len(app.volumes)} volume(s)")
    if model.autoscaling_for(app.tenant, app.name) is not None:
        bits.append("autoscaler")
    return ", ".join(bits)


def _flow_edges(
    graph: Graph, flows: Sequence[AppFlow], ingress_ns: str, skip: set[tuple[str, str, str]], externals: dict[str, Node]
) -> None:
    """Arrows for flows whose two ends are drawn (outside endpoints are added as needed).

    Flows from every drawn app of a tenant to one target start at the tenant's box instead, and
    those to every drawn app of another tenant end at its box too: "monitoring reaches all of
    shop" is one arrow, not eight."""
    present = {n.id for n in graph.nodes}
    members: dict[str, set[str]] = defaultdict(set)  # tenant -> its drawn apps
    for node in graph.nodes:
        if node.kind == "app":
            members[node.tenant].add(node.app)
    arrows: dict[tuple[str, str], tuple[str, bool]] = {}
    fanned: dict[tuple[str, str, str], set[str]] = defaultdict(set)  # (src tenant, target, label) -> src apps
    for flow in flows:
        ends = []
        for end in (flow.source, flow.target):
            outside = _drawn_outside(end)
            if isinstance(end, AppId):
                ends.append(_app_id(end.tenant, end.app))
            else:
                ext = externals.get(_external(outside, ingress_ns).id) if outside is not None else None
                ends.append(ext.id if ext is not None else "")
        source, target = ends
        if not source or not target or source not in present or target not in present:
            continue
        label = _ports_label(flow.ports)
        if isinstance(flow.source, AppId) and isinstance(flow.target, AppId):
            if flow.source.tenant != flow.target.tenant:
                fanned[(flow.source.tenant, target, label)].add(flow.source.app)
                continue
            if (flow.source.tenant, flow.source.app, flow.target.app) in skip:
                continue
            arrows[(source, target)] = (label, False)
        else:
            arrows[(source, target)] = (label, False)
    # From a whole tenant to one app, then from a whole tenant to a whole tenant.
    to_tenant: dict[tuple[str, str, str], set[str]] = defaultdict(set)  # (src tenant, dst tenant, label) -> apps
    for (src_tenant, target, label), apps in fanned.items():
        if apps == members[src_tenant] and len(apps) > 1:
            dst_tenant, _, dst_app = target.removeprefix("app:").partition("/")
            to_tenant[(src_tenant, dst_tenant, label)].add(dst_app)
        else:
            for app in apps:
                arrows[(_app_id(src_tenant, app), target)] = (label, True)
    for (src_tenant, dst_tenant, label), apps in to_tenant.items():
        if apps == members[dst_tenant] and len(apps) > 1:
            arrows[(f"tenant:{src_tenant}", f"tenant:{dst_tenant}")] = (label, True)
        else:
            for app in apps:
                arrows[(f"tenant:{src_tenant}", _app_id(dst_tenant, app))] = (label, True)
    for (source, target), (label, cross) in arrows.items():
        graph.edges.append(Edge(source, target, "flow", label, cross))


def _externals_for(flows: Sequence[AppFlow], apps: set[tuple[str, str]], ingress_ns: str) -> dict[str, Node]:
    """The outside endpoints that flows of ``apps`` reach or come from (DNS and "anything" are
    left to the tenant's note: every strict tenant has DNS, and drawing them hides the rest)."""
    found: dict[str, Node] = {}
    for flow in flows:
        pairs = ((flow.source, flow.target), (flow.target, flow.source))
        for own, other in pairs:
            outside = _drawn_outside(other)
            if isinstance(own, AppId) and (own.tenant, own.app) in apps and outside is not None:
                node = _external(outside, ingress_ns)
                found.setdefault(node.id, node)
    return dict(sorted(found.items()))


def _tenant_note(flows: Sequence[AppFlow], tenant: str, apps: Sequence[App], model: PlatformModel) -> str:
    open_pairs = _internal_everywhere(flows, tenant, apps)
    targets = {t for _, t in open_pairs}
    isolation = next((t.network.isolation for t in model.tenants if t.name == tenant), "strict")
    bits = [f"{isolation} isolation", f"{len(apps)} app(s)"]
    if targets:
        bits.append(f"{len(targets)} reachable by every app of the tenant")
    return " · ".join(bits)


def _platform_view(
    model: PlatformModel,
    flows: Sequence[AppFlow],
    live: Mapping[tuple[str, str], AppLive],
    graph: Graph,
    by_tenant: Mapping[str, list[App]],
    ingress_ns: str,
    budget: int,
    live_known: bool,
) -> Graph:
    apps = [a for tenant_apps in by_tenant.values() for a in tenant_apps]
    pairs = {(a.tenant, a.name) for a in apps}
    externals = _externals_for(flows, pairs, ingress_ns)
    with_parts = len(by_tenant) + len(apps) + sum(len(_parts(model, a)) for a in apps) + len(externals) <= budget
    if with_parts or len(by_tenant) + len(apps) + len(externals) <= budget:
        graph.level = "parts" if with_parts else "apps"
        if not with_parts:
            graph.notes.append(
                f"{len(apps)} apps: their Services, domains, volumes and autoscalers are left out to stay within "
                f"{budget} nodes; focus on a tenant to see them"
            )
        boxes = [
            _TenantBox(t, _title(model, t), list(a), note=_tenant_note(flows, t, a, model))
            for t, a in by_tenant.items()
        ]
        _layout_boxes(
            graph, model, boxes, live, with_parts=with_parts, live_known=live_known, externals=list(externals.values())
        )
        skip = set()
        for tenant, tenant_apps in by_tenant.items():
            skip |= {(tenant, s, t) for s, t in _internal_everywhere(flows, tenant, tenant_apps)}
        _flow_edges(graph, flows, ingress_ns, skip, externals)
        return graph
    return _grouped_view(model, flows, live, graph, by_tenant, budget, live_known)


def _title(model: PlatformModel, tenant: str) -> str:
    found = model.tenant(tenant)
    return f"{found.display_name} ({tenant})" if found is not None and found.display_name else tenant


def _grouped_view(
    model: PlatformModel,
    flows: Sequence[AppFlow],
    live: Mapping[tuple[str, str], AppLive],
    graph: Graph,
    by_tenant: Mapping[str, list[App]],
    budget: int,
    live_known: bool,
) -> Graph:
    """One node per tenant, or per group of neighbouring tenants when even that is too many."""
    names = sorted(by_tenant)
    size = max(1, -(-len(names) // max(1, budget)))  # tenants per node
    groups = [names[i : i + size] for i in range(0, len(names), size)]
    group_of = {t: i for i, members in enumerate(groups) for t in members}
    graph.level = "tenants" if size == 1 else "groups"
    graph.notes.append(
        f"{len(names)} tenants and {graph.total_apps} apps: one node per "
        + ("tenant" if size == 1 else f"group of {size} tenants")
        + f" to stay within {budget} nodes; click one to see its apps"
    )
    columns = max(1, min(12, int(len(groups) ** 0.5 + 0.999)))
    for i, members in enumerate(groups):
        apps = [a for t in members for a in by_tenant[t]]
        ready = desired = 0
        bad = 0
        for app in apps:
            state = live.get((app.tenant, app.name))
            if state is not None:
                ready += state.ready
                desired += state.desired
            health, _, _ = app_status(app, state, live_known=live_known)
            bad += health in ("degraded", "missing")
        health_all: Health = "unknown" if not live_known else ("degraded" if bad else "ok")
        label = members[0] if size == 1 else f"{members[0]} … {members[-1]}"
        sub = f"{len(apps)} apps · {ready}/{desired} ready" + (f" · {bad} not ready" if bad else "")
        node = Node(
            f"group:{i}",
            "group",
            _title(model, label) if size == 1 else label,
            sub,
            members[0] if size == 1 else "",
            health=health_all,
            detail=f"{len(members)} tenant(s): " + ", ".join(members[:20]) + (" …" if len(members) > 20 else ""),
            href=f"/topology?tenant={members[0]}",
        )
        node.x = _PAD + (i % columns) * (_GROUP_W + _COL_GAP)
        node.y = _PAD + (i // columns) * (_GROUP_H + _COL_GAP / 2)
        node.w, node.h = _GROUP_W, _GROUP_H
        graph.nodes.append(node)
    counted: dict[tuple[int, int], Ports] = {}
    for flow in flows:
        if isinstance(flow.source, AppId) and isinstance(flow.target, AppId):
            a, b = group_of.get(flow.source.tenant), group_of.get(flow.target.tenant)
            if a is not None and b is not None and a != b:
                counted[(a, b)] = counted.get((a, b), Ports.none()) | flow.ports
    for (a, b), ports in sorted(counted.items()):
        graph.edges.append(Edge(f"group:{a}", f"group:{b}", "flow", _ports_label(ports), True))
    rows = -(-len(groups) // columns)
    graph.width = _PAD * 2 + columns * (_GROUP_W + _COL_GAP) - _COL_GAP
    graph.height = _PAD * 2 + rows * (_GROUP_H + _COL_GAP / 2)
    return graph


def _tenant_view(
    model: PlatformModel,
    flows: Sequence[AppFlow],
    live: Mapping[tuple[str, str], AppLive],
    graph: Graph,
    by_tenant: Mapping[str, list[App]],
    tenant: str,
    ingress_ns: str,
    budget: int,
    live_known: bool,
) -> Graph:
    own = sorted(by_tenant.get(tenant, []), key=lambda a: a.name)
    own_names = {a.name for a in own}
    # The other tenants' apps this tenant's flows touch.
    neighbours: dict[str, set[str]] = defaultdict(set)
    for flow in flows:
        for mine, theirs in ((flow.source, flow.target), (flow.target, flow.source)):
            if (
                isinstance(mine, AppId)
                and isinstance(theirs, AppId)
                and mine.tenant == tenant
                and mine.app in own_names
                and theirs.tenant != tenant
                and theirs.tenant in by_tenant
            ):
                neighbours[theirs.tenant].add(theirs.app)
    pairs = {(tenant, a) for a in own_names}
    externals = _externals_for(flows, pairs, ingress_ns)
    parts = sum(len(_parts(model, a)) for a in own)
    others = sum(len(v) for v in neighbours.values())
    with_parts = 1 + len(own) + parts + len(neighbours) + others + len(externals) <= budget
    room = budget - 1 - len(neighbours) - min(others, budget // 3) - len(externals)
    shown = own if with_parts or len(own) <= room else own[: max(room, 1)]
    graph.level = "parts" if with_parts else "apps"
    if not with_parts:
        graph.notes.append(f"parts of the apps are left out to stay within {budget} nodes; click an app to see its own")
    boxes = [
        _TenantBox(
            tenant, _title(model, tenant), list(shown), len(own) - len(shown), _tenant_note(flows, tenant, own, model)
        )
    ]
    if len(shown) < len(own):
        boxes[0].note = "open one app to see it"
    cap = max(1, (budget // 3) // max(1, len(neighbours)))
    for other, names in sorted(neighbours.items()):
        apps = [a for a in by_tenant[other] if a.name in names]
        boxes.append(
            _TenantBox(
                other, _title(model, other), apps[:cap], max(0, len(apps) - cap), "only the apps that talk to " + tenant
            )
        )
    _layout_boxes(
        graph, model, boxes, live, with_parts=with_parts, live_known=live_known, externals=list(externals.values())
    )
    skip = {(tenant, s, t) for s, t in _internal_everywhere(flows, tenant, own)}
    _flow_edges(graph, flows, ingress_ns, skip, externals)
    return graph


def _app_view(
    model: PlatformModel,
    flows: Sequence[AppFlow],
    live: Mapping[tuple[str, str], AppLive],
    graph: Graph,
    tenant: str,
    app_name: str,
    ingress_ns: str,
    budget: int,
    live_known: bool,
) -> Graph:
    app = next((a for a in model.apps_of(tenant) if a.name == app_name), None)
    if app is None:
        graph.notes.append(f"tenant {tenant} has no app {app_name}")
        return graph
    me = AppId(tenant, app_name)
    mine = [f for f in flows if me in (f.source, f.target)]
    peers: dict[str, set[str]] = defaultdict(set)
    for flow in mine:
        for end in (flow.source, flow.target):
            if isinstance(end, AppId) and end != me:
                peers[end.tenant].add(end.app)
    externals = _externals_for(mine, {(tenant, app_name)}, ingress_ns)
    neighbours = peers.pop(tenant, set())
    boxes = [
        _TenantBox(tenant, _title(model, tenant), [app, *[a for a in model.apps_of(tenant) if a.name in neighbours]])
    ]
    for other, names in sorted(peers.items()):
        boxes.append(_TenantBox(other, _title(model, other), [a for a in model.apps_of(other) if a.name in names]))
    cap = max(1, budget // 4)
    for box in boxes:
        if len(box.apps) > cap:
            box.hidden, box.apps = len(box.apps) - cap, box.apps[:cap]
    _layout_boxes(graph, model, boxes, live, with_parts=True, live_known=live_known, externals=list(externals.values()))
    _flow_edges(graph, mine, ingress_ns, set(), externals)
    return graph
