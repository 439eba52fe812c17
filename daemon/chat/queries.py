"""The read-only chat commands: ``status`` (of the platform, a tenant or an app), ``diff``, ``history``.

They change nothing: each answers from the daemon's last state or its history, and ``status`` of a
tenant adds the live state of its workloads and HPAs when the cluster can be reached.
"""

from __future__ import annotations

from typing import Any

from daemon.chat.commands import History, Status
from daemon.chat.ports import ChatContext, Outcome
from daemon.chat.views import (
    AppStatus,
    ClusterSummary,
    HpaStatus,
    PlatformStatus,
    TenantStatus,
    TenantSummary,
    history_view,
    pending_diff_view,
    platform_status_view,
    tenant_status_view,
)
from daemon.edges.kube import KubeClient
from daemon.engine.reconcile import DaemonState
from daemon.errors import ChatError, DockyardError
from daemon.model.kinds import PlatformModel
from daemon.model.refs import ObjRef
from daemon.policy.health import assess
from daemon.policy.review import Comparison

__all__ = ["Queries"]

_MANAGED = "app.kubernetes.io/managed-by=dockyard"


class Queries:
    def __init__(self, context: ChatContext) -> None:
        self._context = context
        self._ports = context.ports

    def status(self, command: Status) -> Outcome:
        state = self._ports.snapshot()
        if command.tenant_name is None:
            return Outcome("allowed", platform_status_view(self._platform_status(state)), "platform status")
        model = self._context.require_tenant(command.tenant_name)
        status = self._tenant_status(state, model, command.tenant_name, command.app)
        return Outcome("allowed", tenant_status_view(status), f"status of {command.text().split(' ', 1)[1]}")

    def _platform_status(self, state: DaemonState) -> PlatformStatus:
        revision = state.revision
        paused = self._context.paused()
        model = state.model
        degraded_by_tenant: dict[str, int] = {}
        for health in state.health:
            if health.state == "degraded":
                degraded_by_tenant[health.ref.namespace] = degraded_by_tenant.get(health.ref.namespace, 0) + 1
        tenants = (
            tuple(
                TenantSummary(
                    t.name,
                    len(model.apps_of(t.name)),
                    degraded_by_tenant.get(t.name, 0),
                    t.name in paused,
                    state.deferred.get(t.name, ""),
                )
                for t in model.tenants
            )
            if model is not None
            else ()
        )
        return PlatformStatus(
            source=self._ports.source,
            revision=revision.sha if revision else "",
            author=revision.author if revision else "",
            subject=revision.message.splitlines()[0] if revision and revision.message else "",
            applied=state.applied_sha,
            ready=state.ready,
            last_result=state.last_result,
            last_sync=state.last_sync_time,
            leader=self._ports.is_leader(),
            fetch_error=state.fetch_error,
            deferred=dict(state.deferred),
            degraded=dict(state.degraded),
            paused=tuple(sorted(paused)),
            pending=len(state.pending_changes),
            tenants=tenants,
            clusters=tuple(
                ClusterSummary(
                    name,
                    (c.region if (c := model.platform.cluster(name)) is not None else "") if model is not None else "",
                    s.applied_sha,
                    s.last_result,
                    s.failures,
                    s.last_error,
                )
                for name, s in self._ports.clusters().items()
            ),
        )

    def _tenant_status(self, state: DaemonState, model: PlatformModel, tenant: str, only: str | None) -> TenantStatus:
        apps = model.apps_of(tenant)
        if only is not None:
            apps = tuple(a for a in apps if a.name == only)
            if not apps:
                names = ", ".join(f"`{a.name}`" for a in model.apps_of(tenant)[:20]) or "none"
                raise ChatError(f"tenant `{tenant}` has no app `{only}`", hint=f"Apps: {names}.")
        live: dict[tuple[str, str], dict[str, Any]] = {}
        error = ""
        if self._ports.kube is not None:
            try:
                live = self._live(self._ports.kube, tenant)
            except DockyardError as e:
                error = str(e)
        elif state.health:
            error = "live state is not available; showing the last sync"
        result = []
        for app in apps:
            kind = "StatefulSet" if app.stateful else "Deployment"
            obj = live.get((kind, app.name))
            scaling = model.autoscaling_for(tenant, app.name)
            hpa_obj = live.get(("HorizontalPodAutoscaler", app.name))
            hpa = None
            if scaling is not None:
                hpa_status = (hpa_obj or {}).get("status") or {}
                hpa = HpaStatus(
                    scaling.min_replicas,
                    scaling.max_replicas,
                    hpa_status.get("currentReplicas"),
                    hpa_status.get("desiredReplicas"),
                )
            canary = ""
            if app.canary is not None:
                canary = f"{app.canary.image}, {app.canary.weight}%"
            if obj is None:
                result.append(AppStatus(app.name, kind, "missing", "", app.image, app.replicas, hpa=hpa, canary=canary))
                continue
            health = assess(ObjRef("apps", kind, tenant, app.name), obj)
            spec, status = obj.get("spec") or {}, obj.get("status") or {}
            containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or [{}]
            annotations = (obj.get("metadata") or {}).get("annotations") or {}
            ready = status.get("readyReplicas" if kind == "StatefulSet" else "availableReplicas", 0)
            result.append(
                AppStatus(
                    app.name,
                    kind,
                    health.state,
                    health.message,
                    image=str(containers[0].get("image", app.image)),
                    replicas_in_git=None if scaling else app.replicas,
                    ready=int(ready or 0),
                    wanted=spec.get("replicas"),
                    revision=str(annotations.get("dockyard.dev/revision", "")),
                    hpa=hpa,
                    canary=canary,
                )
            )
        revision = state.revision.sha if state.revision else ""
        paused = tenant in self._context.paused()
        return TenantStatus(
            tenant,
            tuple(result),
            paused=paused,
            waiting=state.deferred.get(tenant, "") if not paused else "",
            revision=revision,
            applied=state.applied_sha,
            only_app=only,
            error=error,
        )

    @staticmethod
    def _live(kube: KubeClient, namespace: str) -> dict[tuple[str, str], dict[str, Any]]:
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for api_version, kind in (
            ("apps/v1", "Deployment"),
            ("apps/v1", "StatefulSet"),
            ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ):
            rtype = kube.resource_type(api_version, kind)
            for obj in kube.list_objects(rtype, namespace=namespace, label_selector=_MANAGED):
                found[(kind, str(obj["metadata"]["name"]))] = obj
        return found

    def diff(self) -> Outcome:
        """The change waiting to be applied: the daemon's revision against the applied one,
        computed now from Git (not the last cycle's plan)."""
        state = self._ports.snapshot()
        revision = state.revision
        if revision is None or not state.applied_sha or state.applied_sha == revision.sha:
            comparison: Comparison | str | None = None
        elif self._ports.pending_review is None:
            comparison = "this daemon cannot read revisions from Git"
        else:
            comparison = self._ports.pending_review(state.applied_sha, revision)
        reply = pending_diff_view(
            revision=revision.sha if revision else "",
            applied=state.applied_sha,
            comparison=comparison,
            deferred=state.deferred,
            invalid=(state.invalid_sha, state.invalid_errors[0] if state.invalid_errors else ""),
        )
        changed = comparison.review.diff.counts if isinstance(comparison, Comparison) and comparison.review else {}
        pending = sum(changed.get(a, 0) for a in ("create", "update", "delete"))
        return Outcome("allowed", reply, f"{pending} pending change(s)")

    def history(self, command: History) -> Outcome:
        records = self._ports.history.list(limit=command.limit)
        return Outcome("allowed", history_view(records), f"{len(records)} entries")
