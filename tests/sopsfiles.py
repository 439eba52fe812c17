"""Encrypted Secret fixtures made at test time by the real sops binary, with a key made for the
test (no key is ever committed)."""

from __future__ import annotations

import os
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pyrage

#: What Dockyard asks for: values and the namespace encrypted, the rest readable in review.
ENCRYPTED_REGEX = "^(data|stringData|namespace)$"


@dataclass(frozen=True)
class AgeKey:
    secret: str  # AGE-SECRET-KEY-1...
    public: str  # age1...

    @classmethod
    def generate(cls) -> AgeKey:
        identity = pyrage.x25519.Identity.generate()
        return cls(str(identity), str(identity.to_public()))

    def keys_txt(self) -> str:
        return f"# public key: {self.public}\n{self.secret}\n"


def secret_yaml(name: str, namespace: str | None, string_data: dict[str, str], *, kind: str = "Opaque") -> str:
    lines = ["apiVersion: v1", "kind: Secret", "metadata:", f"  name: {name}"]
    if namespace is not None:
        lines.append(f"  namespace: {namespace}")
    lines += [f"type: {kind}", "stringData:"]
    for key, value in string_data.items():
        if "\n" in value:
            lines.append(f"  {key}: |")
            lines += ["    " + line for line in value.splitlines()]
        else:
            lines.append(f"  {key}: {value!r}".replace("'", '"'))
    return "\n".join(lines) + "\n"


def encrypt(sops: Path, plain: str, recipient: str, workdir: Path, *, regex: str = ENCRYPTED_REGEX) -> str:
    """``plain`` encrypted by sops for ``recipient``; no user config, no network."""
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "plain.yaml"
    source.write_text(textwrap.dedent(plain))
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(workdir), "SOPS_DISABLE_VERSION_CHECK": "1"}
    result = subprocess.run(
        [str(sops), "--config", "/dev/null", "encrypt", "--age", recipient, "--encrypted-regex", regex, str(source)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    source.unlink()
    assert result.returncode == 0, result.stderr
    return result.stdout


def decrypt_with_sops(sops: Path, encrypted: str, key: AgeKey, workdir: Path) -> tuple[int, str]:
    """What ``sops -d`` says about a file: its exit code and output."""
    path = workdir / "enc.yaml"
    path.write_text(encrypted)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(workdir),
        "SOPS_DISABLE_VERSION_CHECK": "1",
        "SOPS_AGE_KEY": key.secret,
    }
    result = subprocess.run(
        [str(sops), "--config", "/dev/null", "decrypt", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    return result.returncode, result.stdout
