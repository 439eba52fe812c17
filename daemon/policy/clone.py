"""What cloning a tenant writes: its folder under the new name, every reference rewritten (pure).

Generic over the documents (dicts as read from YAML), so that kinds and fields the format gains
are carried along: every ``tenant: OLD`` becomes ``tenant: NEW``, the tenant's domains (those its
apps render, also when they come from template parameters) get new host names, in-cluster names
``*.OLD.svc`` point into the new namespace, and notification lists named after the tenant are
cloned with it. Outside the clone's folder, traffic between tenants flows only when both declare
it, so every rule of another tenant's Policy about OLD gets a copy for NEW, in a Policy document
of its own (the peer's files stay as they are), and a peer's ``allowFrom``/``allowTo`` entry
for OLD gets a sibling line for NEW. What the clone cannot carry is said in ``notes``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from daemon import API_VERSION

Documents = Sequence[Any]


@dataclass
class Clone:
    #: new files: repo-relative path -> documents
    written: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: existing files changed in place: repo-relative path -> new text
    edited: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    domains: dict[str, str] = field(default_factory=dict)
    #: each new file's model: the file it was copied from, or one next to it (for its modeline)
    origin: dict[str, str] = field(default_factory=dict)
    #: (file, Volume) of ``old`` whose backups the clone starts from: the owner's consent to add
    shares: list[tuple[str, str]] = field(default_factory=list)
    #: Volume -> the snapshot of ``old``'s it starts from (``latest``: the newest when copied)
    data: dict[str, str] = field(default_factory=dict)


def new_domain(domain: str, old: str, new: str, suffix: str | None) -> str:
    """``api.shop.example.com`` -> ``api.SUFFIX`` with a suffix; else the label ``old`` renamed
    (``api.shop-staging.example.com``), else the first label suffixed (``reports-shop-staging...``)."""
    labels = domain.split(".")
    if suffix:
        return f"{labels[0]}.{suffix.strip('.')}"
    if old in labels:
        return ".".join(new if label == old else label for label in labels)
    return ".".join([f"{labels[0]}-{new}", *labels[1:]])


def _names(value: Any, key: str) -> Iterable[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k == key and isinstance(v, str):
                yield v
            yield from _names(v, key)
    elif isinstance(value, list):
        for item in value:
            yield from _names(item, key)


def _mentions(value: Any, old: str) -> bool:
    return old in _names(value, "tenant")


class _Rewriter:
    def __init__(self, old: str, new: str, strings: Mapping[str, str]) -> None:
        self.old, self.new, self.strings = old, new, strings
        self.service = re.compile(rf"\.{re.escape(old)}\.svc\b")

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.new if k == "tenant" and v == self.old else self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, str):
            if value in self.strings:
                return self.strings[value]
            return self.service.sub(f".{self.new}.svc", value)
        return value


def _token(name: str, old: str) -> bool:
    return old in name.split("-")


def plan_clone(
    texts: Mapping[str, str],
    documents: Mapping[str, Documents],
    old: str,
    new: str,
    *,
    domains: Iterable[str],
    suffix: str | None,
    secrets: Iterable[str] = (),
    data: Sequence[str] = (),
) -> Clone:
    """The clone of tenant ``old`` as ``new``, from every file of the repo (``texts`` and the
    ``documents`` read from them); ``domains`` are the ones ``old``'s apps render. ``data``: the
    snapshots the clone's volumes start from, ``latest`` for each volume's newest; a volume none
    of them is a backup of starts empty."""
    clone = Clone()
    clone.domains = {d: new_domain(d, old, new, suffix) for d in sorted(set(domains))}
    folder = f"tenants/{old}/"
    lists: dict[str, tuple[str, dict[str, Any]]] = {}
    for rel, docs in documents.items():
        if rel.startswith("notifications/"):
            for doc in docs:
                name = _name(doc)
                if isinstance(doc, dict) and doc.get("kind") == "NotificationList" and name and _token(name, old):
                    renamed = "-".join(new if part == old else part for part in name.split("-"))
                    lists[name] = (renamed, doc)
    rewrite = _Rewriter(old, new, {**clone.domains, **{k: v[0] for k, v in lists.items()}})

    for rel, docs in sorted(documents.items()):
        if rel.startswith(folder):
            target = f"tenants/{new}/{rel.removeprefix(folder)}"
            clone.written[target] = [_cloned(doc, rewrite, old, new) for doc in docs if isinstance(doc, dict)]
            clone.origin[target] = rel
            for doc in clone.written[target]:
                _start_from(clone, rel, doc, old, data)
        elif rel.startswith("tenants/"):
            peer = rel.split("/")[1]
            _peer(clone, rel, peer, texts.get(rel, ""), docs, old, new, rewrite)
        elif rel == "platform.yaml":
            for doc in docs:
                for path in _string_lists_with(doc, old):
                    clone.notes.append(
                        f"platform.yaml names {old} in {path}; {new} is not added there (the platform team's choice)"
                    )
    for name, (renamed, doc) in sorted(lists.items()):
        renamed_list = copy.deepcopy(doc)
        renamed_list["metadata"]["name"] = renamed
        clone.written[f"notifications/{renamed}.yaml"] = [renamed_list]
        clone.origin[f"notifications/{renamed}.yaml"] = next(r for r, d in documents.items() if doc in d)
        clone.notes.append(
            f"notifications/{renamed}.yaml is a copy of {name}, with the same targets: point it elsewhere if "
            f"{new}'s alerts should not reach {name}'s people"
        )
    needed = sorted(set(secrets))
    if needed:
        clone.notes.append(
            f"the apps read the Secrets {', '.join(needed)}: create them in namespace {new} (they are not in the repo)"
        )
    return clone


def _name(doc: Any) -> str | None:
    metadata = doc.get("metadata") if isinstance(doc, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else None


def _cloned(doc: dict[str, Any], rewrite: _Rewriter, old: str, new: str) -> dict[str, Any]:
    data: dict[str, Any] = rewrite(doc)
    if data.get("kind") == "Tenant" and isinstance(data.get("metadata"), dict):
        data["metadata"]["name"] = new
        spec = data.get("spec")
        if isinstance(spec, dict) and isinstance(spec.get("displayName"), str):
            spec["displayName"] = f"{spec['displayName']} ({new})"
    if data.get("kind") == "Volume" and isinstance(data.get("spec"), dict):
        data["spec"].pop("restore", None)  # the clone's volumes start empty
    return data


def _start_from(clone: Clone, rel: str, doc: dict[str, Any], old: str, data: Sequence[str]) -> None:
    """A cloned Volume restored from ``old``'s backup of it, when ``data`` names one."""
    name, spec = _name(doc), doc.get("spec")
    if doc.get("kind") != "Volume" or not name or not isinstance(spec, dict) or not data:
        return
    snapshot = next((s for s in data if s.startswith(f"{name}-") and s[len(name) + 1 :].isdigit()), None)
    snapshot = snapshot or ("latest" if "latest" in data else None)
    if snapshot is None:
        clone.notes.append(f"volume {name} starts empty: no snapshot of it was named")
        return
    if spec.get("perReplica"):
        clone.notes.append(f"volume {name} starts empty: it is perReplica (one backup per replica claim)")
        return
    if not spec.get("backup"):
        clone.notes.append(f"volume {name} starts empty: {old}'s volume has no backups (spec.backup)")
        return
    spec["restore"] = {"tenant": old, "volume": name, "snapshot": snapshot}
    clone.shares.append((rel, name))
    clone.data[name] = snapshot


def _peer(
    clone: Clone,
    rel: str,
    peer: str,
    text: str,
    docs: Documents,
    old: str,
    new: str,
    rewrite: Callable[[Any], Any],
) -> None:
    rules: list[Any] = []
    for doc in docs:
        if not isinstance(doc, dict) or not _mentions(doc, old):
            continue
        written = doc.get("spec")
        spec: dict[str, Any] = written if isinstance(written, dict) else {}
        if doc.get("kind") == "Policy":
            rules.extend(rewrite(rule) for rule in spec.get("network") or () if _mentions(rule, old))
        elif doc.get("kind") == "Tenant":
            edited = _add_sibling_lines(clone.edited.get(rel, text), old, new)
            if edited is None:
                clone.notes.append(f"{rel} lets {old} in or out; add the same for {new} by hand (cannot edit it)")
            else:
                clone.edited[rel] = edited
        else:
            clone.notes.append(f"{rel} ({doc.get('kind')}) refers to tenant {old}; it is not changed for {new}")
    if rules:
        target = f"tenants/{peer}/policy-{new}.yaml"
        clone.written[target] = [
            {
                "apiVersion": API_VERSION,
                "kind": "Policy",
                "metadata": {"name": f"{new}-traffic"},
                "spec": {"network": rules},
            }
        ]
        clone.origin[target] = rel
        clone.notes.append(f"{target}: {peer}'s half of its traffic with {old}, for {new}")


_LIST_ITEM = r"^(?P<indent>[ \t]*)- tenant: *{name} *(?P<comment>#.*)?$"


def _add_sibling_lines(text: str, old: str, new: str) -> str | None:
    """``text`` with a ``- tenant: new`` line after every ``- tenant: old`` line, or None."""
    pattern = re.compile(_LIST_ITEM.format(name=re.escape(old)), re.MULTILINE)
    found = list(pattern.finditer(text))
    if not found:
        return None
    for match in found:
        rest = text[match.end() + 1 :].split("\n", 1)[0]
        depth = len(rest) - len(rest.lstrip(" \t"))
        if rest.strip() and depth > len(match.group("indent")) and not rest.lstrip().startswith("-"):
            return None  # the entry goes on (ports, apps): copying one line would lose them
    return pattern.sub(lambda m: f"{m.group(0)}\n{m.group('indent')}- tenant: {new}", text)


def _string_lists_with(value: Any, old: str, path: str = "") -> Iterable[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _string_lists_with(v, old, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        if old in value:
            yield path
        for index, item in enumerate(value):
            yield from _string_lists_with(item, old, f"{path}[{index}]")
