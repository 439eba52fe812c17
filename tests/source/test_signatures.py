"""Commit signatures read by the sources with real git, ssh-keygen and gpg: SSH and OpenPGP keys,
trusted by the daemon's files only."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from daemon.edges.git import GitRemote, TrustedKeys
from daemon.edges.source import GitSource, LocalSource
from tests.source.gitservers import Upstream, git


def ssh_key(directory: Path, name: str) -> Path:
    key = directory / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key


def allowed_signers(path: Path, entries: dict[str, Path]) -> Path:
    lines = [f"{principal} {key.with_suffix('.pub').read_text().strip()}" for principal, key in entries.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def commit_signed_ssh(upstream: Upstream, key: Path, message: str) -> str:
    git(
        "-c",
        "gpg.format=ssh",
        "-c",
        f"user.signingkey={key}",
        "commit",
        "-q",
        "-S",
        "--allow-empty",
        "-m",
        message,
        cwd=upstream.work,
    )
    return upstream.head()


def gpg_home(directory: Path, email: str) -> Path:
    home = directory / f"gnupg-{email.split('@', maxsplit=1)[0]}"
    home.mkdir(mode=0o700)
    subprocess.run(
        [
            "gpg",
            "--batch",
            "--homedir",
            str(home),
            "--passphrase",
            "",
            "--quick-gen-key",
            email,
            "ed25519",
            "sign",
            "1y",
        ],
        check=True,
        capture_output=True,
    )
    return home


def export_key(home: Path, email: str, path: Path) -> Path:
    out = subprocess.run(
        ["gpg", "--batch", "--homedir", str(home), "--armor", "--export", email], check=True, capture_output=True
    ).stdout
    path.write_bytes(out)
    return path


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    up = Upstream(tmp_path / "served")
    up.commit({"platform.yaml": "v: 1\n"}, "unsigned first")
    return up


def test_an_ssh_signed_commit_by_a_trusted_key_is_good_and_names_its_principal(
    upstream: Upstream, tmp_path: Path
) -> None:
    alice = ssh_key(tmp_path, "alice")
    mallory = ssh_key(tmp_path, "mallory")
    trusted = TrustedKeys(allowed_signers=allowed_signers(tmp_path / "allowed_signers", {"alice@example.com": alice}))
    source = GitSource(GitRemote(upstream.file_url), workdir=tmp_path / "wd", trusted=trusted)

    upstream.push("main")
    assert source.fetch().signature.status == "none"

    commit_signed_ssh(upstream, alice, "signed by alice")
    upstream.push("main")
    signature = source.fetch().signature
    assert (signature.status, signature.signer) == ("good", "alice@example.com")
    assert signature.key.startswith("SHA256:")

    commit_signed_ssh(upstream, mallory, "signed by mallory")
    upstream.push("main")
    signature = source.fetch().signature
    assert signature.status == "untrusted" and signature.signer == ""


def test_an_openpgp_signed_commit_by_a_trusted_key_is_good(upstream: Upstream, tmp_path: Path) -> None:
    alice = gpg_home(tmp_path, "alice@example.com")
    eve = gpg_home(tmp_path, "eve@example.com")
    keys = export_key(alice, "alice@example.com", tmp_path / "trusted.asc")
    source = GitSource(GitRemote(upstream.file_url), workdir=tmp_path / "wd", trusted=TrustedKeys(openpgp_keys=keys))

    for home, email in ((alice, "alice@example.com"), (eve, "eve@example.com")):
        env = {**os.environ, "GNUPGHOME": str(home)}
        subprocess.run(
            [
                "git",
                "-c",
                f"user.signingkey={email}",
                "-c",
                "user.name=T",
                "-c",
                "user.email=t@example.com",
                "commit",
                "-q",
                "-S",
                "--allow-empty",
                "-m",
                f"signed by {email}",
            ],
            cwd=upstream.work,
            env=env,
            check=True,
            capture_output=True,
        )
        upstream.push("main")
        signature = source.fetch().signature
        if email.startswith("alice"):
            assert signature.status == "good" and "alice@example.com" in signature.signer
        else:
            assert signature.status == "untrusted", "a key the daemon was not given is not trusted"


def test_a_key_removed_from_the_trusted_file_is_no_longer_trusted(upstream: Upstream, tmp_path: Path) -> None:
    alice = ssh_key(tmp_path, "alice")
    signers = allowed_signers(tmp_path / "allowed_signers", {"alice@example.com": alice})
    source = GitSource(GitRemote(upstream.file_url), workdir=tmp_path / "wd", trusted=TrustedKeys(signers))
    commit_signed_ssh(upstream, alice, "signed")
    upstream.push("main")
    assert source.fetch().signature.status == "good"
    signers.write_text("")
    assert source.fetch().signature.status == "untrusted"


def test_without_trusted_keys_nothing_is_checked(upstream: Upstream, tmp_path: Path) -> None:
    upstream.push("main")
    signature = GitSource(GitRemote(upstream.file_url), workdir=tmp_path / "wd").fetch().signature
    assert signature.status == "unchecked" and "--allowed-signers" in signature.detail


def test_the_local_source_reads_the_signature_of_a_clean_head_only(upstream: Upstream, tmp_path: Path) -> None:
    alice = ssh_key(tmp_path, "alice")
    trusted = TrustedKeys(allowed_signers=allowed_signers(tmp_path / "allowed_signers", {"alice@example.com": alice}))
    commit_signed_ssh(upstream, alice, "signed")
    source = LocalSource(upstream.work, trusted=trusted, workdir=tmp_path / "local")
    assert source.fetch().signature.status == "good"
    (upstream.work / "platform.yaml").write_text("v: 2\n")
    dirty = source.fetch().signature
    assert dirty.status == "none" and "uncommitted" in dirty.detail
