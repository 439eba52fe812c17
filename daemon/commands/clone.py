"""``dockyard clone TENANT --to NEW``: a copy of a whole tenant, as a commit on a new branch for review.

The clone is made from the commit checked out (HEAD) of the repo's git work tree, in a private
temporary tree (the chat commands' commit path, :meth:`daemon.chat.gitops.GitOps.commit_edit`),
so the work tree, its index and uncommitted edits are never touched; the branch is
``dockyard/clone-<id>``, ready for a merge request. The cloned repo is validated before the
commit exists: a name that is taken, reserved or not a DNS label, or domains that collide, stop
it with the loader's own messages and nothing is written.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from daemon.chat.gitops import GitOps, Requester
from daemon.chat.yamledit import add_volume_share
from daemon.commands._common import add_repo_arg, operator, repo_path
from daemon.commands.validate import rendered
from daemon.edges import files
from daemon.errors import ConfigError, ValidationFailed
from daemon.loader import load_repo
from daemon.loader.repo import walk
from daemon.loader.yamlsource import read_file
from daemon.model.kinds import PlatformModel
from daemon.policy.clone import Clone, plan_clone
from daemon.views.scaffold import modeline

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUFFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "clone",
        help="copy a whole tenant under a new name, as a branch for review",
        description="Copy tenant TENANT with every App, Volume, Policy and Autoscaling as NEW: domains, "
        "tenant references, in-cluster service names and the tenant's notification lists rewritten, and "
        "the other tenants' halves of cross-tenant traffic added. Committed on a new branch of the repo's "
        "git work tree (from HEAD; the work tree is not touched).",
    )
    parser.add_argument("tenant", help="the tenant to clone")
    parser.add_argument("--to", required=True, metavar="NEW", help="the new tenant (and namespace)")
    parser.add_argument(
        "--domain-suffix",
        default=None,
        metavar="S",
        help="host names become FIRST-LABEL.S (api.shop.example.com -> api.S); default: the label TENANT "
        "renamed to NEW (api.NEW.example.com)",
    )
    data = parser.add_mutually_exclusive_group()
    data.add_argument("--empty", action="store_true", help="volumes start empty (the default)")
    data.add_argument(
        "--with-data",
        metavar="SNAPSHOT",
        default=None,
        help="volumes start from TENANT's backups: 'latest' (each volume's newest, chosen when copied) or "
        "snapshot names VOLUME-YYYYMMDDHHMM, comma-separated; TENANT's Volumes get NEW in spec.shareWith "
        "(its owners' consent, reviewed with the branch)",
    )
    add_repo_arg(parser)
    parser.set_defaults(func=run)


_MODELINE = re.compile(r"^# yaml-language-server: \$schema=(?P<folder>.*/)?[a-z]+\.schema\.json$")


def _text(rel: str, documents: list[dict[str, Any]], origin: str, texts: dict[str, str], old: str) -> str:
    """A new file: the modeline of the file it comes from (at the same depth), for its own kind."""
    kind = str(documents[0].get("kind")) if documents else ""
    first = texts.get(origin, "").split("\n", 1)[0]
    match = _MODELINE.match(first)
    head = modeline(f"{match.group('folder') or ''}{kind.lower()}.schema.json") if match and kind else ""
    head += f"# Cloned from tenant {old} by `dockyard clone`.\n"
    return head + "---\n".join(yaml.safe_dump(d, sort_keys=False, default_flow_style=False) for d in documents)


def _read(root: Path) -> tuple[dict[str, str], dict[str, list[Any]]]:
    texts: dict[str, str] = {}
    documents: dict[str, list[Any]] = {}
    for source in walk(root).files:
        try:
            texts[source.rel] = files.read_text(root, source.rel)
        except files.UnsafePath:
            continue  # a symlink: the loader reads it through its target, which is cloned itself
        read, _ = read_file(source.path, source.rel)
        documents[source.rel] = [d.data for d in read]
    return texts, documents


def clone_into(
    root: Path, model: PlatformModel, old: str, new: str, suffix: str | None, data: Sequence[str] = ()
) -> Clone:
    """Writes the clone into the platform directory ``root`` and validates it (ValidationFailed
    with the errors it causes otherwise; the caller's tree is then thrown away)."""
    known = [t.name for t in model.tenants]
    if old not in known:
        raise ConfigError(f"there is no tenant '{old}'; tenants: {', '.join(known)}")
    if new in known or (root / "tenants" / new).exists():
        raise ConfigError(f"tenant '{new}' exists; clone into a new name")
    apps = [a for a in model.apps if a.tenant == old]
    volumes = sorted(v.name for v in model.volumes_of(old))
    for snapshot in data:
        if snapshot != "latest" and not any(re.fullmatch(rf"{re.escape(v)}-[0-9]{{12}}", snapshot) for v in volumes):
            raise ConfigError(
                f"--with-data {snapshot}: not a backup of a volume of {old} (VOLUME-YYYYMMDDHHMM; volumes: "
                f"{', '.join(volumes) or 'none'}), nor 'latest'"
            )
    secrets = [e.secret_ref.name for a in apps for e in a.env if e.secret_ref is not None]
    texts, documents = _read(root)
    plan = plan_clone(
        texts,
        documents,
        old,
        new,
        domains=[d for a in apps for d in a.domains],
        suffix=suffix,
        secrets=secrets,
        data=data,
    )
    for rel, volume in plan.shares:
        plan.edited[rel] = add_volume_share(plan.edited.get(rel, texts[rel]), volume, new, file=rel).text
    for rel, docs in plan.written.items():
        files.create_text(root, rel, _text(rel, docs, plan.origin.get(rel, ""), texts, old))
    for rel, text in plan.edited.items():
        files.write_text(root, rel, text)
    result = rendered(load_repo(root))
    if result.errors:
        raise ValidationFailed(result.errors)
    return plan


def run(args: argparse.Namespace) -> int:
    old, new = str(args.tenant), str(args.to)
    if not _LABEL.match(new) or len(new) > 63:
        raise ConfigError(f"--to {new}: not a DNS label (lower-case letters, digits and '-', at most 63)")
    if args.domain_suffix is not None and not _SUFFIX.match(args.domain_suffix):
        raise ConfigError(f"--domain-suffix {args.domain_suffix}: not a DNS name such as staging.example.com")
    data = [s.strip() for s in (args.with_data or "").split(",") if s.strip()]
    if args.with_data is not None and not data:
        raise ConfigError("--with-data: name 'latest' or snapshots VOLUME-YYYYMMDDHHMM")
    gitops = GitOps.for_local(repo_path(args.repo))
    if not gitops.available:
        raise ConfigError(f"cannot clone into a branch: {gitops.describe()}")
    planned: list[Clone] = []

    def edit(platform: Path, model: PlatformModel) -> str:
        plan = clone_into(platform, model, old, new, args.domain_suffix, data)
        planned.append(plan)
        lines = [f"Clone tenant {old} as {new}", ""]
        lines += [f"{a} -> {b}" for a, b in plan.domains.items()]
        lines += [f"volume {v} starts from {old}'s backup {s}" for v, s in plan.data.items()]
        lines += ["", *plan.notes] if plan.notes else []
        return "\n".join(lines)

    user, host = operator()
    result = gitops.commit_edit(
        "clone", edit, requester=Requester("", user, via=f"dockyard clone on {host}"), mode="branch"
    )
    print(f"committed {result.short_sha} on branch {result.branch} (from {result.base_branch}): {result.summary}")
    for path in result.files:
        print(f"  {path}")
    for plan in planned[-1:]:
        for before, after in plan.domains.items():
            print(f"domain {before} -> {after}")
        for volume, snapshot in plan.data.items():
            print(f"volume {volume} starts from {old}'s backup {snapshot} (shared by {old}'s Volume {volume})")
        for note in plan.notes:
            print(f"note: {note}")
    print(f"review it: git diff {result.base_branch}...{result.branch}; merge it to create {new}")
    return 0
