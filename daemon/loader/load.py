"""Loading a platform repo: files -> documents -> schema-valid entries -> typed model.

Every stage reports problems instead of stopping, so one run shows all of them; the model exists
only when no stage found an error.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from daemon.errors import Problem, ValidationFailed
from daemon.loader import budget, build, build_workload, catalog
from daemon.loader.checks import cross_check
from daemon.loader.documents import Entry, classify
from daemon.loader.hints import Explainer
from daemon.loader.manifests import ManifestDoc, check_manifests, manifests_of
from daemon.loader.repo import PLATFORM_FILE, walk
from daemon.loader.schemas import is_valid, validator
from daemon.loader.secrets import duplicate_secrets, load_secrets
from daemon.loader.templates import instantiate, resolve_templates, validate_instance
from daemon.loader.yamlsource import Document, compact, read_file
from daemon.model.kinds import PlatformModel
from daemon.model.refs import SourceRef


@dataclass
class LoadCache:
    """What a load learnt about unchanged files, for the next load of the same repo.

    A commit usually changes a few files of thousands; the daemon keeps one cache for the life of
    the process so that reading and schema-checking cost grows with the change, not the repo.
    Entries are keyed by the file's path and content, so a file that changed is always read anew,
    and only results of the pure, per-file stages are kept (cross-document checks always run).
    """

    #: (rel, content digest) -> what read_file returned
    files: dict[tuple[str, bytes], tuple[list[Document], list[Problem]]] = field(default_factory=dict)
    #: (rel, content digest, document index) -> the schema problems of that document
    schema: dict[tuple[str, bytes, int], list[Problem]] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0

    def prune(self, live: set[tuple[str, bytes]]) -> None:
        """Forgets files that are no longer in the repo (or changed), so the cache stays its size."""
        self.files = {k: v for k, v in self.files.items() if k in live}
        self.schema = {k: v for k, v in self.schema.items() if (k[0], k[1]) in live}


def _digest(path: Path) -> bytes | None:
    try:
        return hashlib.blake2b(path.read_bytes(), digest_size=16).digest()
    except OSError:
        return None


@dataclass(frozen=True)
class LoadResult:
    """What loading a repo found: the model (None when there is any error) and every problem, sorted."""

    model: PlatformModel | None
    problems: tuple[Problem, ...]
    files: int = 0
    documents: int = 0

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")

    @property
    def ok(self) -> bool:
        return self.model is not None


def load_repo(root: Path, cache: LoadCache | None = None, *, reserved_namespaces: Iterable[str] = ()) -> LoadResult:
    """Read, validate and cross-check the platform repo checked out at ``root``.

    With a ``cache`` from an earlier load, unchanged files are neither parsed nor schema-checked
    again; the result is the same as without it. No tenant may be named after one of
    ``reserved_namespaces`` (the daemon's own namespace), on top of the built-in reserved names.
    """
    # Loading allocates millions of small objects that never form cycles (nodes, dicts, strings);
    # with the cyclic collector running it rescans the growing heap again and again and loading
    # takes about twice as long. Reference counting still frees everything.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _load(root, cache, tuple(reserved_namespaces))
    finally:
        if enabled:
            gc.enable()


def _load(root: Path, cache: LoadCache | None, reserved_namespaces: tuple[str, ...]) -> LoadResult:
    if not root.is_dir():
        return LoadResult(None, (Problem(str(root), 0, 0, "not a directory", code="layout.root"),))
    repo = walk(root)
    too_large = budget.repo_problems(repo.files)
    if too_large:
        return LoadResult(None, tuple(sorted([*repo.problems, *too_large])), len(repo.files), 0)
    problems: list[Problem] = list(repo.problems)
    entries: list[Entry] = []
    documents = values = 0
    complete = True  # every file was read (else references into unread files would look dangling)
    # Where each entry came from, to find its cached schema result: (rel, digest, index).
    origin: dict[int, tuple[str, bytes, int]] = {}
    live: set[tuple[str, bytes]] = set()
    sealed = []
    raw: list[ManifestDoc] = []
    for number, source in enumerate(repo.files):
        stop = budget.over_budget(source, documents, values, len(repo.files) - number)
        if stop is not None:
            problems.append(stop)
            complete = False
            break
        if source.place == "tenant-secret":
            # Encrypted Secrets are not Dockyard documents: their envelope is checked on its own
            # (one document per file, within the file size limit).
            found_secrets, found = load_secrets(source)
            sealed.extend(found_secrets)
            problems.extend(found)
            documents += 1
            continue
        digest = _digest(source.path) if cache is not None else None
        key = (source.rel, digest) if digest is not None else None
        if cache is not None and key is not None and key in cache.files:
            cache.hits += 1
            read, found = cache.files[key]
        else:
            read, found = read_file(source.path, source.rel)
            if cache is not None and key is not None:
                cache.misses += 1
                compact(read)
                cache.files[key] = (read, found)
        if key is not None:
            live.add(key)
        problems.extend(found)
        documents += len(read)
        values += sum(d.values for d in read)
        if source.place == "tenant-manifest":
            # Raw Kubernetes objects: not Dockyard documents, checked as manifests.
            found_manifests, found = manifests_of(read, source)
            raw.extend(found_manifests)
            problems.extend(found)
            continue
        for index, document in enumerate(read):
            entry, found = classify(document, source)
            problems.extend(found)
            if entry is not None:
                entries.append(entry)
                if key is not None:
                    origin[id(entry)] = (key[0], key[1], index)
    if cache is not None:
        cache.prune(live)

    if not any(e.kind == "Platform" for e in entries) and not any(
        p.file == PLATFORM_FILE and p.severity == "error" for p in problems
    ):
        problems.append(
            Problem(
                PLATFORM_FILE,
                0,
                0,
                "platform.yaml holds no Platform document",
                hint="every platform repo needs exactly one Platform document in platform.yaml",
                code="layout.missing-platform",
            )
        )

    templated: list[Entry] = []
    for entry in entries:
        if entry.kind in ("App", "Job") and isinstance(entry.spec().get("template"), str):
            templated.append(entry)
            continue
        where = origin.get(id(entry))
        cached = cache.schema.get(where) if cache is not None and where is not None else None
        if cached is None:
            if is_valid(entry.kind, entry.data):
                cached = []
            else:
                explainer = Explainer(entry.doc, tenant=entry.tenant)
                errors = validator(entry.kind).iter_errors(entry.data)
                cached = budget.schema_problems(explainer, errors, entry.file, entry.doc.line)
            if cache is not None and where is not None:
                cache.schema[where] = cached
        problems.extend(cached)
        entry.valid = not cached

    # Catalog entries take part in resolving templates only; they are not documents of the repo.
    shipped, found = catalog.referenced(entries)
    problems.extend(found)
    resolved, found = resolve_templates([*entries, *shipped])
    problems.extend(found)
    known_templates = {e.name for e in [*entries, *shipped] if e.kind == "Template" and e.name is not None}
    for app in templated:
        instance, found = instantiate(app, resolved, known_templates)
        if instance is None:
            # Still check the App's own fields, so the template is not the only thing reported.
            explainer = Explainer(app.doc, tenant=app.tenant)
            errors = validator(app.kind).iter_errors(app.data)
            found += budget.schema_problems(explainer, errors, app.file, app.doc.line)
            problems.extend(found)
            continue
        found = validate_instance(app, instance)
        problems.extend(found)
        assert isinstance(instance.data, dict)
        app.doc, app.data, app.valid = instance, instance.data, not found

    if complete:
        problems.extend(cross_check(entries, repo.tenant_dirs, reserved_namespaces))
        problems.extend(duplicate_secrets(sealed))
        problems.extend(check_manifests(raw, entries))
    ordered = budget.capped(sorted(_unique(problems)))
    if any(p.severity == "error" for p in ordered):
        return LoadResult(None, ordered, len(repo.files), len(entries))
    model = replace(_model(entries), secrets=tuple(sealed), manifests=tuple(m.manifest for m in raw))
    return LoadResult(model, ordered, len(repo.files), len(entries))


def load_or_raise(
    root: Path, cache: LoadCache | None = None, *, reserved_namespaces: Iterable[str] = ()
) -> PlatformModel:
    """The model of the repo at ``root``; :class:`ValidationFailed` with every problem if it is invalid."""
    result = load_repo(root, cache, reserved_namespaces=reserved_namespaces)
    if result.model is None:
        raise ValidationFailed(result.problems)
    return result.model


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, int, int, str]] = set()
    unique = []
    for problem in problems:
        key = (problem.file, problem.line, problem.column, problem.message)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return unique


def _model(entries: list[Entry]) -> PlatformModel:
    """The typed model; only called when every entry is valid and every reference resolves."""
    platform_entry = next(e for e in entries if e.kind == "Platform")
    platform = build.platform(platform_entry.data, _source(platform_entry))
    default_class = platform.default_storage_class.name if platform.default_storage_class else None
    builders: dict[str, Callable[[Entry], object]] = {
        "Tenant": lambda e: build.tenant(e.data, _source(e)),
        "App": lambda e: build_workload.app(e.data, _source(e), str(e.tenant), e.parameters),
        "Volume": lambda e: build.volume(e.data, _source(e), str(e.tenant), default_class),
        "Policy": lambda e: build.policy(e.data, _source(e), str(e.tenant)),
        "Autoscaling": lambda e: build.autoscaling(e.data, _source(e), str(e.tenant)),
        "NotificationList": lambda e: build.notification_list(e.data, _source(e)),
        "Template": lambda e: build.template(e.data, _source(e)),
        "Job": lambda e: build_workload.job(e.data, _source(e), str(e.tenant)),
        "Patch": lambda e: build.patch(e.data, _source(e), str(e.tenant)),
    }
    built: dict[str, list[object]] = {kind: [] for kind in builders}
    for entry in entries:
        if entry.kind in builders:
            built[entry.kind].append(builders[entry.kind](entry))
    return PlatformModel(
        platform=platform,
        tenants=tuple(built["Tenant"]),  # type: ignore[arg-type]
        apps=tuple(built["App"]),  # type: ignore[arg-type]
        volumes=tuple(built["Volume"]),  # type: ignore[arg-type]
        policies=tuple(built["Policy"]),  # type: ignore[arg-type]
        autoscalings=tuple(built["Autoscaling"]),  # type: ignore[arg-type]
        notification_lists=tuple(built["NotificationList"]),  # type: ignore[arg-type]
        templates=tuple(built["Template"]),  # type: ignore[arg-type]
        jobs=tuple(built["Job"]),  # type: ignore[arg-type]
        patches=tuple(built["Patch"]),  # type: ignore[arg-type]
    )


def _source(entry: Entry) -> SourceRef:
    return SourceRef(entry.source.rel, entry.doc.line, f"{entry.kind}/{entry.name}")
