"""``dockyard extract --namespace NS [--app NAME [--template T]]``: Dockyard YAML for what runs in a namespace.

Reads the namespace's Deployments, StatefulSets, Jobs, CronJobs, Services, Ingresses,
PersistentVolumeClaims, HorizontalPodAutoscalers, ConfigMaps and NetworkPolicies (read only) and
prints the Apps, Jobs, Volumes, Autoscalings and Policy that render them, or writes them into
``tenants/TENANT/`` of ``--repo`` (validated, all or nothing, never over a file without ``--force``). What the format
cannot express is listed on stderr, object by object.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any

import yaml

from daemon.commands._common import kube_client, repo_path
from daemon.commands._writes import schema_ref, write_validated
from daemon.errors import ConfigError
from daemon.loader.repo import TENANT_FILES
from daemon.policy.extract import extract
from daemon.policy.extract_template import as_template
from daemon.views.scaffold import document_text

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_KINDS = (
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
    ("v1", "Service"),
    ("networking.k8s.io/v1", "Ingress"),
    ("v1", "PersistentVolumeClaim"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("v1", "ConfigMap"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "extract",
        help="write Dockyard YAML for what runs in a namespace",
        description="Read a namespace's Deployments, StatefulSets, Jobs, CronJobs, Services, Ingresses, PVCs, "
        "HPAs, ConfigMaps and NetworkPolicies and print the Apps, Jobs, Volumes, Autoscalings and Policy that "
        "render them (or write them "
        "into a tenant of --repo); what the format cannot express is reported.",
    )
    parser.add_argument("--namespace", "-n", required=True, help="the namespace to read")
    parser.add_argument(
        "--app", default=None, help="only this Deployment, StatefulSet, Job or CronJob (and what it uses)"
    )
    parser.add_argument(
        "--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, else the in-cluster account)"
    )
    parser.add_argument("--context", default=None, help="kubeconfig context")
    parser.add_argument("--repo", default=None, metavar="PATH", help="write into this platform repo (with --tenant)")
    parser.add_argument("--tenant", default=None, help="the existing tenant of --repo to write into")
    parser.add_argument(
        "--template",
        default=None,
        metavar="NAME",
        help="with --app: write the App as templates/NAME.yaml (image, replicas, cpu, memory and domains as "
        "parameters) and an App made from it",
    )
    parser.add_argument("--force", action="store_true", help="overwrite files that exist")
    parser.set_defaults(func=run, concurrency=4)


def run(args: argparse.Namespace) -> int:
    if (args.repo is None) != (args.tenant is None):
        raise ConfigError("--repo and --tenant go together: the tenant of the repo to write into")
    if args.template is not None and args.app is None:
        raise ConfigError("--template NAME makes a template of one app: name it with --app")
    if args.template is not None and (not _LABEL.match(args.template) or len(args.template) > 63):
        raise ConfigError(f"--template {args.template}: not a DNS label (lower-case letters, digits and '-')")
    if args.repo is not None:
        root = repo_path(args.repo)
        if not any((root / "tenants" / args.tenant / f).is_file() for f in TENANT_FILES):
            raise ConfigError(f"there is no tenant '{args.tenant}' in {args.repo}; dockyard new tenant {args.tenant}")
    args.kubeconfig = args.kubeconfig or os.environ.get("KUBECONFIG")
    kube = kube_client(args)
    try:
        objects = [
            obj
            for api_version, kind in _KINDS
            for obj in kube.list_objects(kube.resource_type(api_version, kind), namespace=args.namespace)
        ]
    finally:
        kube.close()
    result = extract(objects, app=args.app, namespace=args.namespace)
    if not result.documents and not result.unsupported:
        raise ConfigError(f"namespace {args.namespace} has no Deployments, StatefulSets, Jobs or claims to extract")
    tenant = args.tenant or args.namespace
    documents = {f"tenants/{tenant}/{rel}": doc for rel, doc in result.documents.items()}
    scope: tuple[str, ...] = (f"tenants/{tenant}/",)
    if args.template is not None:
        rel = f"tenants/{tenant}/apps/{args.app}.yaml"
        if rel not in documents:
            raise ConfigError(f"--template: {args.app} is not a Deployment or StatefulSet that could be extracted")
        template, documents[rel] = as_template(documents[rel], args.template)
        documents = {f"templates/{args.template}.yaml": template, **documents}
        scope = (*scope, f"templates/{args.template}.yaml")
    if args.repo is not None:
        files = {rel: document_text(doc, schema_ref(root, rel, doc["kind"])) for rel, doc in documents.items()}
        write_validated(root, files, force=args.force, scope=scope)
        for rel in files:
            print(f"wrote {rel}")
    else:
        for rel, doc in documents.items():
            sys.stdout.write(f"---\n# {rel}\n")
            sys.stdout.write(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))
    if result.unsupported:
        print(f"could not express ({len(result.unsupported)}):", file=sys.stderr)
        for line in result.unsupported:
            print(f"  {line}", file=sys.stderr)
    return 0
