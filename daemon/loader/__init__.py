"""The loader: a platform repo checkout in, a validated :class:`~daemon.model.PlatformModel` out.

Pure: no network, no Kubernetes, no git. Every problem carries the file (relative to the repo
root), line, column, JSON path, message and a hint, and all problems of a repo come back from one
run, sorted by file and line. Nothing but :class:`~daemon.errors.DockyardError` ever escapes.

Modules, in the order the data flows through them: ``repo`` (which files), ``yamlsource`` (safe
YAML with positions), ``documents`` (envelope and placement), ``schemas`` + ``hints`` (JSON Schema
and readable errors), ``templates`` (App from Template), ``checks`` (references and facts
across documents, one module per family), ``build`` (typed model), and ``load`` (the pipeline).
"""

from daemon.loader.load import LoadCache, LoadResult, load_or_raise, load_repo

__all__ = ["LoadCache", "LoadResult", "load_or_raise", "load_repo"]
