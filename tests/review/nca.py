"""network-config-analyzer (``nca``) as an independent judge of daemon.policy.reachability.

nca pins its own dependencies (PyYAML among them), so it lives in its own venv, ``.venv-nca`` at
the repo root, made by ``make nca`` (``make test`` and ``make unit`` make it first). It runs as a
subprocess on the objects written to files (one ``-r`` per file, output with ``-f``), and both
answers are brought to one canonical form: per (source, target) of workloads the allowed
connections, and per workload and direction the connections by address range outside the cluster.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.policy.reachability import Addresses, Ports, Reachability, Workload

ROOT = Path(__file__).resolve().parents[2]
NCA = ROOT / ".venv-nca" / "bin" / "nca"
_LINE = re.compile(r"^(\S+) => (\S+) : (.+)$")
_GROUP = re.compile(r"\{([^}]*)\}")
_WORKLOAD = re.compile(r"^[^/\s]+/[^\[\s]+\[\w+\]$")
_IPV4_ALL = (0, 2**32 - 1)

Pairs = dict[tuple[str, str], Ports]
#: (workload, "egress" | "ingress") -> ((first address, last address, ports), ...), merged
External = dict[tuple[str, str], tuple[tuple[int, int, Ports], ...]]


def nca_available() -> Path:
    if not NCA.exists():
        pytest.fail(f"{NCA} is missing: run `make nca` (it makes the venv with network-config-analyzer)")
    return NCA


def parse_connection(text: str) -> Ports:
    """``All connections`` or ``{protocols:TCP, UDP,dst_ports:53,80-90},{protocols:SCTP}``."""
    text = text.strip()
    if text == "All connections":
        return Ports.all()
    result = Ports.none()
    for group in _GROUP.findall(text):
        protocols_part, _, ports_part = group.partition(",dst_ports:")
        protocols = [p.strip() for p in protocols_part.removeprefix("protocols:").split(",") if p.strip()]
        for protocol in protocols:
            if not ports_part:
                result = result | Ports.of(protocol)
                continue
            for item in ports_part.split(","):
                first, _, last = item.strip().partition("-")
                result = result | Ports.of(protocol, int(first), int(last) if last else None)
    return result


def _ip_range(text: str) -> list[tuple[int, int]]:
    ranges = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        ranges.append((int(ipaddress.IPv4Address(first)), int(ipaddress.IPv4Address(last or first))))
    return ranges


def _canonical(pieces: Iterable[tuple[int, int, Ports]]) -> tuple[tuple[int, int, Ports], ...]:
    """Address ranges with their connections, split at every boundary, unioned, and merged again."""
    items = list(pieces)
    cuts = sorted({a for a, _, _ in items} | {b + 1 for _, b, _ in items})
    atoms: list[tuple[int, int, Ports]] = []
    for start, end in itertools.pairwise(cuts):
        ports = Ports.none()
        for a, b, p in items:
            if a <= start and end - 1 <= b:
                ports = ports | p
        if not ports:
            continue
        if atoms and atoms[-1][1] == start - 1 and atoms[-1][2] == ports:
            atoms[-1] = (atoms[-1][0], end - 1, ports)
        else:
            atoms.append((start, end - 1, ports))
    return tuple(atoms)


def run_nca(objects: Iterable[Mapping[str, Any]], work: Path) -> tuple[Pairs, External]:
    """nca's connectivity map of ``objects``: workload pairs, and address ranges per workload.

    Pods nca invents (``kube-system/kube-dns-livesim``, when policies name the cluster DNS and no
    such pod is given) are left out: they are not among the objects."""
    work.mkdir(parents=True, exist_ok=True)
    groups: dict[str, list[Mapping[str, Any]]] = {"namespaces": [], "workloads": [], "policies": []}
    for obj in objects:
        kind = obj.get("kind")
        if kind == "Namespace":
            groups["namespaces"].append(obj)
        elif kind == "NetworkPolicy":
            groups["policies"].append(obj)
        elif kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod"):
            groups["workloads"].append(obj)
    args = [str(nca_available()), "--connectivity"]
    for name, docs in groups.items():
        if docs:
            path = work / f"{name}.yaml"
            path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
            args += ["-r", str(path)]
    out = work / "connectivity.txt"
    done = subprocess.run(
        [*args, "-o", "txt_no_fw_rules", "-f", str(out)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"nca failed ({done.returncode}): {done.stderr[-2000:]}"
    pairs: Pairs = {}
    external: dict[tuple[str, str], list[tuple[int, int, Ports]]] = {}
    for line in out.read_text().splitlines():
        match = _LINE.match(line.strip())
        assert match is not None, f"unexpected nca line: {line!r}"
        source, target, connection = match.groups()
        if "kube-system/" in source or "kube-system/" in target:
            continue
        ports = parse_connection(connection)
        if _WORKLOAD.match(source) and _WORKLOAD.match(target):
            pairs[(source, target)] = pairs.get((source, target), Ports.none()) | ports
        elif _WORKLOAD.match(source):
            external.setdefault((source, "egress"), []).extend((a, b, ports) for a, b in _ip_range(target))
        else:
            external.setdefault((target, "ingress"), []).extend((a, b, ports) for a, b in _ip_range(source))
    return pairs, {k: _canonical(v) for k, v in external.items()}


def nca_name(workload: Workload) -> str:
    return f"{workload.namespace}/{workload.name}[{workload.kind}]"


def ours(result: Reachability) -> tuple[Pairs, External]:
    """Our answer in nca's terms (IPv4 addresses only: nca prints IPv6 only when asked)."""
    pairs: Pairs = {}
    external: dict[tuple[str, str], list[tuple[int, int, Ports]]] = {}
    for flow in result.flows:
        source, target = flow.source, flow.target
        if isinstance(source, Workload) and isinstance(target, Workload):
            pairs[(nca_name(source), nca_name(target))] = flow.ports
        elif isinstance(source, Workload) and isinstance(target, Addresses):
            external.setdefault((nca_name(source), "egress"), []).extend(_v4(target, flow.ports))
        elif isinstance(target, Workload) and isinstance(source, Addresses):
            external.setdefault((nca_name(target), "ingress"), []).extend(_v4(source, flow.ports))
    return pairs, {k: v for k, v in ((k, _canonical(v)) for k, v in external.items()) if v}


def _v4(addresses: Addresses, ports: Ports) -> list[tuple[int, int, Ports]]:
    found = []
    for cidr in addresses.cidrs:
        network = ipaddress.ip_network(cidr)
        if network.version == 4:
            found.append((int(network.network_address), int(network.broadcast_address), ports))
    return found
