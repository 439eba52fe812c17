"""A laid-out :class:`~daemon.console.topology.Graph` as inline SVG (pure).

The server draws the whole picture, so the topology is readable without JavaScript and costs the
browser no layout work; ``console.js`` only adds panning, zooming, highlighting the flows of the
node under the pointer, and refreshing the live status in place. Every node is a link to its
focus view (SVG ``<a>``), every tooltip a ``<title>``.
"""

from __future__ import annotations

from daemon.console.html import Markup, el, join
from daemon.console.topology import Edge, Graph, Node

__all__ = ["graph_svg"]

_PART_ICON = {"service": "S", "ingress": "D", "volume": "V", "autoscaler": "A"}


def _center(n: Node) -> tuple[float, float]:
    return n.x + n.w / 2, n.y + n.h / 2


def _route(a: Node, b: Node) -> tuple[str, float, float]:
    """A cubic curve from ``a`` to ``b`` and its midpoint (for the label)."""
    ax, ay = _center(a)
    bx, by = _center(b)
    if abs(ax - bx) < max(a.w, b.w) / 2:
        # Same column: leave and enter on the left side, bulging out further for longer jumps.
        x0, x1 = a.x, b.x
        bulge = 40 + min(abs(ay - by) * 0.25, 120)
        c0, c1 = (x0 - bulge, ay), (x1 - bulge, by)
        p0, p1 = (x0, ay), (x1, by)
    elif ax < bx:
        p0, p1 = (a.x + a.w, ay), (b.x, by)
        d = max(40.0, (p1[0] - p0[0]) / 2)
        c0, c1 = (p0[0] + d, ay), (p1[0] - d, by)
    else:
        p0, p1 = (a.x, ay), (b.x + b.w, by)
        d = max(40.0, (p0[0] - p1[0]) / 2)
        c0, c1 = (p0[0] - d, ay), (p1[0] + d, by)
    mx = (p0[0] + 3 * c0[0] + 3 * c1[0] + p1[0]) / 8
    my = (p0[1] + 3 * c0[1] + 3 * c1[1] + p1[1]) / 8
    path = f"M{p0[0]:.0f},{p0[1]:.0f} C{c0[0]:.0f},{c0[1]:.0f} {c1[0]:.0f},{c1[1]:.0f} {p1[0]:.0f},{p1[1]:.0f}"
    return path, mx, my


def _edge(edge: Edge, nodes: dict[str, Node]) -> Markup:
    a, b = nodes.get(edge.source), nodes.get(edge.target)
    if a is None or b is None:
        return Markup("")
    if edge.kind == "part":
        ax, ay = a.x + a.w, a.y + a.h / 2
        bx, by = b.x, b.y + b.h / 2
        return el(
            "path",
            class_="part",
            d=f"M{ax:.0f},{ay:.0f} C{ax + 18:.0f},{ay:.0f} {bx - 18:.0f},{by:.0f} {bx:.0f},{by:.0f}",
            data_s=edge.source,
            data_t=edge.target,
        )
    path, mx, my = _route(a, b)
    width = 7 * len(edge.label) + 10
    return el(
        "g",
        el("path", d=path, marker_end="url(#arrow)"),
        el("rect", x=f"{mx - width / 2:.0f}", y=f"{my - 9:.0f}", width=f"{width:.0f}", height="16", rx="4"),
        el("text", edge.label, x=f"{mx:.0f}", y=f"{my + 3:.0f}"),
        el("title", f"{a.label} → {b.label}: {edge.label}"),
        class_="flow cross" if edge.cross else "flow",
        data_s=edge.source,
        data_t=edge.target,
    )


def _node(n: Node) -> Markup:
    body: list[Markup] = [el("title", n.detail or n.label)]
    if n.kind == "tenant":
        body += [
            el("rect", x=f"{n.x:.0f}", y=f"{n.y:.0f}", width=f"{n.w:.0f}", height=f"{n.h:.0f}", rx="10"),
            el("text", n.label, class_="title", x=f"{n.x + 14:.0f}", y=f"{n.y + 22:.0f}"),
            el("text", n.sub, class_="sub", x=f"{n.x + 14:.0f}", y=f"{n.y + 37:.0f}"),
        ]
    elif n.kind in _PART_ICON:
        body += [
            el("rect", x=f"{n.x:.0f}", y=f"{n.y:.0f}", width=f"{n.w:.0f}", height=f"{n.h:.0f}", rx="10"),
            el("text", _PART_ICON[n.kind], class_="icon", x=f"{n.x + 10:.0f}", y=f"{n.y + 14:.0f}"),
            el("text", _clip(n.label + (f" · {n.sub}" if n.sub else ""), 26), x=f"{n.x + 22:.0f}", y=f"{n.y + 14:.0f}"),
        ]
    else:
        body += [
            el("rect", x=f"{n.x:.0f}", y=f"{n.y:.0f}", width=f"{n.w:.0f}", height=f"{n.h:.0f}", rx="6"),
            el("rect", class_="stripe", x=f"{n.x:.0f}", y=f"{n.y:.0f}", width="6", height=f"{n.h:.0f}", rx="3"),
            el("text", _clip(n.label, 24), class_="title", x=f"{n.x + 14:.0f}", y=f"{n.y + 21:.0f}"),
            el("text", _clip(n.sub, 30), class_="sub", data_status="", x=f"{n.x + 14:.0f}", y=f"{n.y + 39:.0f}"),
        ]
    group = el(
        "g",
        *body,
        class_=f"node {n.kind} {n.health}",
        data_id=n.id,
        data_tenant=n.tenant or None,
        data_app=n.app or None,
    )
    return el("a", group, href=n.href) if n.href else group


def _clip(value: str, width: int) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


def graph_svg(graph: Graph) -> Markup:
    nodes = {n.id: n for n in graph.nodes}
    width, height = max(graph.width, 320), max(graph.height, 160)
    tenants = [n for n in graph.nodes if n.kind == "tenant"]
    others = [n for n in graph.nodes if n.kind != "tenant"]
    defs = el(
        "defs",
        el(
            "marker",
            el("path", d="M0,0 L10,5 L0,10 z"),
            id="arrow",
            viewBox="0 0 10 10",
            refX="10",
            refY="5",
            markerWidth="7",
            markerHeight="7",
            orient="auto-start-reverse",
        ),
    )
    return el(
        "svg",
        defs,
        el("g", join(_node(n) for n in tenants), class_="tenants"),
        el("g", join(_edge(e, nodes) for e in graph.edges if e.kind == "part"), class_="parts"),
        el("g", join(_node(n) for n in others), class_="nodes"),
        el("g", join(_edge(e, nodes) for e in graph.edges if e.kind == "flow"), class_="flows"),
        xmlns="http://www.w3.org/2000/svg",
        viewBox=f"0 0 {width:.0f} {height:.0f}",
        width=f"{width:.0f}",
        height=f"{height:.0f}",
        class_="topology",
        role="img",
        aria_label=f"topology: {sum(1 for n in graph.nodes if n.kind == 'app')} apps, "
        f"{sum(1 for e in graph.edges if e.kind == 'flow')} flows",
    )
