"""Checks across documents: names, references and facts no single schema can see.

References are checked against every document that has a name, valid or not: an App that mounts
a Volume with a typo in its size must not also be told the Volume does not exist. Checks that need
the content of the referenced document (its ports, its storage classes) use it only when it is
valid. Warnings are for things that work but probably are not what was meant.

Each family of checks is one module with a ``check(ctx)`` function; a new family is a new module
added to ``FAMILIES``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Final

from daemon.errors import Problem
from daemon.loader.checks import (
    apps,
    autoscaling,
    clusters,
    containers,
    crosstenant,
    exposure,
    guardrails,
    jobs,
    logging,
    names,
    notifications,
    policies,
    quotas,
    tenancy,
    volumes,
)
from daemon.loader.checks.context import CheckContext
from daemon.loader.documents import Entry

#: In the order they run. The loader sorts problems by place, keeping this order among problems at
#: the same place, and drops the later of two with the same place and message.
FAMILIES: Final[tuple[Callable[[CheckContext], None], ...]] = (
    names.check,
    tenancy.check,
    apps.check,
    containers.check,
    exposure.check,
    jobs.check,
    volumes.check,
    policies.check,
    autoscaling.check,
    notifications.check,
    quotas.check,
    logging.check,
    guardrails.check,
    crosstenant.check,
    clusters.check,
)


def cross_check(
    entries: Sequence[Entry], tenant_dirs: Iterable[str] = (), reserved_namespaces: Iterable[str] = ()
) -> list[Problem]:
    """Every problem found across ``entries``; a folder in ``tenant_dirs`` counts as a tenant for
    references; no tenant may be named after one of ``reserved_namespaces`` (nor the built-in ones)."""
    ctx = CheckContext(entries, tenant_dirs, reserved_namespaces)
    for check in FAMILIES:
        check(ctx)
    return ctx.problems
