"""A small valid platform repo as a dict of path -> text, and helpers to write and load variants.

Tests change one file (or add one) and assert the exact file, line and message of what the loader
reports; :func:`line_of` finds the line of a needle in the text the test wrote, so the assertion
stays exact while the texts stay readable.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

from daemon.errors import Problem
from daemon.loader import LoadResult, load_repo

BASE: dict[str, str] = {
    "platform.yaml": """
        apiVersion: dockyard.dev/v1alpha1
        kind: Platform
        metadata:
          name: test
        spec:
          sync:
            interval: 1m
            windows:
              - schedule: "0 22 * * 1-5"
                duration: 8h
                timezone: Europe/Berlin
                tenants: [shop]
          storageClasses:
            - name: ceph-rbd
              provisioner: rook-ceph.rbd.csi.ceph.com
              snapshotClass: csi-rbdplugin-snapclass
              default: true
            - name: cephfs
              provisioner: rook-ceph.cephfs.csi.ceph.com
          notifications:
            default: ops
        """,
    "notifications/ops.yaml": """
        apiVersion: dockyard.dev/v1alpha1
        kind: NotificationList
        metadata:
          name: ops
        spec:
          targets:
            - slack:
                channel: "#ops"
          events: [sync.failed, alert.*]
        """,
    "templates/web.yaml": """
        apiVersion: dockyard.dev/v1alpha1
        kind: Template
        metadata:
          name: web
        spec:
          parameters:
            type: object
            required: [image]
            properties:
              image: {type: string}
              replicas: {type: integer, default: 2}
          app:
            image: ${image}
            replicas: ${replicas}
            ports:
              - name: http
                port: 80
        """,
    "tenants/shop/tenant.yaml": """
        apiVersion: dockyard.dev/v1alpha1
        kind: Tenant
        metadata:
          name: shop
        spec:
          quota:
            cpu: "4"
            memory: 8Gi
            storage: 50Gi
            pods: 20
          storageClasses: [ceph-rbd]
          notifications: [ops]
        """,
    "tenants/shop/api.yaml": """
        apiVersion: dockyard.dev/v1alpha1
        kind: App
        metadata:
          name: api
        spec:
          image: busybox:1.36
          stateful: true
          ports:
            - name: http
              port: 8080
          resources:
            cpu: 100m
            memory: 128Mi
          volumes:
            - volume: data
              mountPath: /data
        """,
    "tenants/shop/volume.yaml": """
        apiVersion: dockyard.dev/v1alpha1
        kind: Volume
        metadata:
          name: data
        spec:
          size: 1Gi
          backup:
            schedule: "0 */6 * * *"
            retention: {last: 4, daily: 7}
        """,
    "tenants/shop/web.yaml": """
        apiVersion: dockyard.dev/v1alpha1
        kind: App
        metadata:
          name: web
        spec:
          template: web
          parameters:
            image: nginx:1.27
          domains: [shop.example.com]
        """,
    "tenants/shop/policy.yaml": """
        apiVersion: dockyard.dev/v1alpha1
        kind: Policy
        metadata:
          name: shop
        spec:
          network:
            - allow:
                from: {app: web}
                to: {app: api}
                ports: [8080]
          alerts:
            - name: restarts
              when:
                podRestarts: {over: 5, window: 10m}
              notify: [ops]
        """,
    "tenants/shop/autoscaling.yaml": """
        apiVersion: dockyard.dev/v1alpha1
        kind: Autoscaling
        metadata:
          name: web
        spec:
          target: web
          minReplicas: 2
          maxReplicas: 4
          metrics:
            - cpu: 70%
        """,
    "tenants/other/tenant.yaml": """
        apiVersion: dockyard.dev/v1alpha1
        kind: Tenant
        metadata:
          name: other
        spec:
          quota: {cpu: "1", memory: 1Gi}
        """,
    "tenants/other/front.yaml": """
        apiVersion: dockyard.dev/v1alpha1
        kind: App
        metadata:
          name: front
        spec:
          image: nginx:1.27
          ports:
            - name: http
              port: 80
          domains: [other.example.com]
        """,
}


def text(value: str) -> str:
    """Dedented text without the leading newline of a triple-quoted string."""
    return textwrap.dedent(value).lstrip("\n")


def write_repo(root: Path, files: Mapping[str, str | bytes | None]) -> Path:
    """Write ``files`` (path -> text, bytes written as they are) below ``root``; None skips a path."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        if content is None:
            continue
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(text(content), encoding="utf-8")
    return root


def repo(root: Path, changes: Mapping[str, str | bytes | None] | None = None) -> Path:
    """The base repo with ``changes`` applied (a None value removes that file)."""
    files: dict[str, str | bytes | None] = dict(BASE)
    files.update(changes or {})
    return write_repo(root, files)


def load(root: Path, changes: Mapping[str, str | bytes | None] | None = None) -> LoadResult:
    return load_repo(repo(root, changes))


def line_of(content: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line containing ``needle`` in the dedented text."""
    found = 0
    for number, line in enumerate(text(content).splitlines(), start=1):
        if needle in line:
            found += 1
            if found == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in the text")


def errors(result: LoadResult) -> list[tuple[str, int, str]]:
    return [(p.file, p.line, p.message) for p in result.errors]


def warnings(result: LoadResult) -> list[tuple[str, int, str]]:
    return [(p.file, p.line, p.message) for p in result.warnings]


def only(result: LoadResult) -> Problem:
    """The single problem of a result (fails with all of them listed otherwise)."""
    assert len(result.problems) == 1, [p.format() for p in result.problems]
    return result.problems[0]
