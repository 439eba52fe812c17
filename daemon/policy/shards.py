"""Which daemon replica applies which tenant, when a platform outgrows one replica.

Tenants are split into a fixed number of shards by rendezvous (highest-random-weight) hashing of
the tenant's name: changing the number of shards moves only about 1/N of the tenants, and the
hash never depends on what else the platform holds, so a tenant never moves because another one
was added. Each shard has a Lease (``state.shards``); the live replicas share the shards by the
same hashing of the shard's number onto their identities, so a replica that joins takes about
1/R of the shards and one that leaves gives up only its own.

The platform's own objects (cluster-scoped objects other than tenants' Namespaces, and the
inventory piece that lists them) are the leader's, not a shard's: the leader already speaks for
the platform (rejections, watchers, the audit trail's retention).

Everything here is pure: names in, decisions out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

#: the owner of platform-level objects (see ``policy.plan.tenant_of``)
PLATFORM = ""


def _weight(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x00".join(parts).encode()).digest()[:8], "big")


def shard_of(owner: str, count: int) -> int:
    """The shard (0..count-1) of a tenant; the same on every replica and across restarts."""
    if count < 1:
        raise ValueError(f"a platform has at least one shard, not {count}")
    return max(range(count), key=lambda shard: _weight("shard", str(shard), owner))


def assign(count: int, members: Iterable[str]) -> dict[int, str]:
    """The replica each shard belongs to, among the live ``members`` (none: no owner)."""
    live = sorted(set(members))
    if not live:
        return {}
    return {shard: max(live, key=lambda m: _weight("member", m, str(shard))) for shard in range(count)}


@dataclass(frozen=True)
class Ownership:
    """What one replica applies in one cycle: the shards whose Leases it holds, and whether it
    leads (and so applies the platform's own objects)."""

    count: int
    shards: frozenset[int]
    platform: bool

    @classmethod
    def everything(cls) -> Ownership:
        """One replica for the whole platform (no sharding)."""
        return cls(1, frozenset({0}), True)

    @property
    def whole(self) -> bool:
        return self.platform and self.shards == frozenset(range(self.count))

    @property
    def anything(self) -> bool:
        return self.platform or bool(self.shards)

    def owns(self, owner: str) -> bool:
        if owner == PLATFORM:
            return self.platform
        return shard_of(owner, self.count) in self.shards
