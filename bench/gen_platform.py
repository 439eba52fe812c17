"""Generate a large, valid platform repo for benchmarks.

Each tenant gets a tenant.yaml, ``apps_per_tenant`` Apps (the first made from a Template), one
Volume per App, an Autoscaling for every App but the last, and a Policy with network and alert
rules: about 10 documents per tenant with the default of 3 apps. The platform, notification lists
and templates are shared. The output validates clean (no errors, no warnings).

    python bench/gen_platform.py /tmp/platform --tenants 1000 --apps 3
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

MODELINE = "# yaml-language-server: $schema={up}schemas/{kind}.schema.json\n"

PLATFORM = """apiVersion: dockyard.dev/v1alpha1
kind: Platform
metadata:
  name: bench
spec:
  sync:
    interval: 1m
    driftCheckInterval: 5m
    windows:
      - schedule: "0 22 * * *"
        duration: 8h
        timezone: Europe/Berlin
        action: allow
        tenants: [t0000]
  storageClasses:
    - name: ceph-rbd
      provisioner: rook-ceph.rbd.csi.ceph.com
      snapshotClass: csi-rbdplugin-snapclass
      default: true
    - name: cephfs
      provisioner: rook-ceph.cephfs.csi.ceph.com
      snapshotClass: csi-cephfsplugin-snapclass
  ingress:
    className: nginx
    tls: true
  notifications:
    default: platform-ops
  prune:
    maxFraction: 0.3
"""

NOTIFICATIONS = {
    "platform-ops": """apiVersion: dockyard.dev/v1alpha1
kind: NotificationList
metadata:
  name: platform-ops
spec:
  targets:
    - slack:
        channel: "#platform-ops"
  events: [sync.*, prune.blocked, health.*]
""",
    "oncall": """apiVersion: dockyard.dev/v1alpha1
kind: NotificationList
metadata:
  name: oncall
spec:
  targets:
    - webhook:
        url: https://alerts.example.com/hooks/dockyard
        secretRef: oncall-signing-key
    - email:
        to: [oncall@example.com]
  events: [alert.*, backup.failed]
  minSeverity: warning
""",
}

TEMPLATE = """apiVersion: dockyard.dev/v1alpha1
kind: Template
metadata:
  name: web-frontend
spec:
  parameters:
    type: object
    additionalProperties: false
    required: [image, domain]
    properties:
      image: {type: string}
      domain: {type: string}
      replicas: {type: integer, default: 2}
  app:
    image: ${image}
    replicas: ${replicas}
    ports:
      - name: http
        port: 80
    domains: ["${domain}"]
    resources:
      cpu: 50m
      memory: 64Mi
    probes:
      readiness:
        http: /
        port: http
"""

TENANT = """apiVersion: dockyard.dev/v1alpha1
kind: Tenant
metadata:
  name: {tenant}
  labels:
    cost-center: cc-{number}
spec:
  displayName: Team {number}
  members:
    - kind: Group
      name: {tenant}-developers
      role: edit
    - kind: User
      name: lead-{number}@example.com
      role: admin
  quota:
    cpu: "20"
    memory: 64Gi
    storage: 1Ti
    pods: 200
  limits:
    defaultCpu: 100m
    defaultMemory: 128Mi
  network:
    isolation: strict
    allowFrom:
      - tenant: {neighbour}
    allowTo:
      - tenant: {previous}
  notifications: [oncall]
"""

TEMPLATED_APP = """apiVersion: dockyard.dev/v1alpha1
kind: App
metadata:
  name: {app}
spec:
  template: web-frontend
  parameters:
    image: nginx:1.27
    domain: {app}.{tenant}.example.com
"""

APP = """apiVersion: dockyard.dev/v1alpha1
kind: App
metadata:
  name: {app}
  labels:
    app.kubernetes.io/part-of: {tenant}
spec:
  image: busybox:1.36
  stateful: true
  replicas: 1
  command: [httpd]
  args: ["-f", "-p", "8080"]
  env:
    - name: LOG_LEVEL
      value: info
    - name: DB_PASSWORD
      secretRef:
        name: {app}-db
        key: password
  ports:
    - name: http
      port: 8080
  resources:
    cpu: 100m
    memory: 128Mi
    limits:
      memory: 256Mi
  probes:
    readiness:
      http: /healthz
      port: http
    liveness:
      tcp: http
  volumes:
    - volume: {app}-data
      mountPath: /data
"""

VOLUME = """apiVersion: dockyard.dev/v1alpha1
kind: Volume
metadata:
  name: {app}-data
spec:
  size: 10Gi
  # The stateful App scales to 2 replicas that share this claim: ReadWriteMany (cephfs).
  storageClass: cephfs
  accessMode: ReadWriteMany
  backup:
    schedule: "0 */6 * * *"
    retention: {{last: 4, daily: 7, weekly: 4, monthly: 6}}
"""

AUTOSCALING = """apiVersion: dockyard.dev/v1alpha1
kind: Autoscaling
metadata:
  name: {app}
spec:
  target: {app}
  minReplicas: 1
  maxReplicas: {max_replicas}
  metrics:
    - cpu: 70%
  behavior:
    scaleDown:
      stabilizationWindow: 5m
  schedules:
    - cron: "0 8 * * 1-5"
      duration: 10h
      minReplicas: 2
      timezone: Europe/Berlin
"""

POLICY = """apiVersion: dockyard.dev/v1alpha1
kind: Policy
metadata:
  name: {tenant}
spec:
  network:
{rules}  alerts:
    - name: restarts
      when:
        podRestarts: {{over: 5, window: 10m}}
      severity: warning
      notify: [oncall]
"""

RULE = """    - allow:
        from: {{app: {source}}}
        to: {{app: {target}}}
        ports: [{port}]
"""


def generate(root: Path, tenants: int, apps_per_tenant: int = 3) -> None:
    """Write a valid platform repo with ``tenants`` tenants of ``apps_per_tenant`` apps into ``root``."""
    if tenants < 1 or apps_per_tenant < 1:
        raise ValueError("tenants and apps_per_tenant must be at least 1")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)

    def write(rel: str, kind: str, text: str) -> None:
        _write_at(root, Path(rel), kind, text)

    write("platform.yaml", "platform", PLATFORM)
    for name, text in NOTIFICATIONS.items():
        write(f"notifications/{name}.yaml", "notificationlist", text)
    write("templates/web-frontend.yaml", "template", TEMPLATE)
    for t in range(tenants):
        tenant = f"t{t:04d}"
        neighbour = f"t{(t + 1) % tenants:04d}"
        previous = f"t{(t - 1) % tenants:04d}"  # lets its pods out to the tenant that lets them in
        base = f"tenants/{tenant}"
        write(
            f"{base}/tenant.yaml",
            "tenant",
            TENANT.format(tenant=tenant, number=t, neighbour=neighbour, previous=previous),
        )
        apps = [f"app{a}" for a in range(apps_per_tenant)]
        volumes, scalings, rules = [], [], []
        for a, app in enumerate(apps):
            if a == 0:
                write(f"{base}/apps/{app}.yaml", "app", TEMPLATED_APP.format(app=app, tenant=tenant))
            else:
                write(f"{base}/apps/{app}.yaml", "app", APP.format(app=app, tenant=tenant))
                volumes.append(VOLUME.format(app=app))
                rules.append(RULE.format(source=apps[a - 1], target=app, port=8080))
            scalings.append(AUTOSCALING.format(app=app, max_replicas=4 if a == 0 else 2))
        if apps_per_tenant == 1:
            rules.append(RULE.format(source=apps[0], target=apps[0], port=80))
        if volumes:
            write(f"{base}/volumes.yaml", "volume", "---\n".join(volumes))
        write(f"{base}/autoscaling.yaml", "autoscaling", "---\n".join(scalings))
        write(f"{base}/policy.yaml", "policy", POLICY.format(tenant=tenant, rules="".join(rules)))


def _write_at(root: Path, rel: Path, kind: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    up = "../" * len(rel.parts)
    path.write_text(MODELINE.format(up=up, kind=kind) + text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate a large valid platform repo.")
    parser.add_argument("output", type=Path, help="directory to write (emptied first with --force)")
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--apps", type=int, default=3, help="apps per tenant")
    parser.add_argument("--force", action="store_true", help="remove the output directory first")
    args = parser.parse_args(argv)
    if args.output.exists() and any(args.output.iterdir()):
        if not args.force:
            parser.error(f"{args.output} is not empty (use --force)")
        shutil.rmtree(args.output)
    generate(args.output, args.tenants, args.apps)
    documents = sum(p.read_text(encoding="utf-8").count("\nkind: ") for p in args.output.rglob("*.yaml"))
    print(f"wrote {documents} documents for {args.tenants} tenants to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
