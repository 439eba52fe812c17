"""Secrets in Git, encrypted with SOPS + age: the real sops encrypts, the daemon decrypts (and
refuses whatever was tampered with, moved between tenants or left in clear text)."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
import yaml

from daemon.commands._common import age_keys
from daemon.edges.sops import AgeKeys, decrypt
from daemon.engine.secrets import SecretOpener
from daemon.errors import ConfigError, SecretError, ValidationFailed
from daemon.loader import load_repo
from daemon.render import render
from tests.loader.helpers import errors, line_of, repo
from tests.render.test_render import by
from tests.sopsfiles import AgeKey, decrypt_with_sops, encrypt, secret_yaml

PASSWORD = "s3cr3t-p@ss"
CONFIG = "retries: 3\nendpoints:\n  - https://a.example\n"


@pytest.fixture(scope="module")
def key() -> AgeKey:
    return AgeKey.generate()


@pytest.fixture(scope="module")
def keys(key: AgeKey) -> AgeKeys:
    return AgeKeys.parse(key.keys_txt(), origin="the test key")


@pytest.fixture(scope="module")
def orders_db(sops: Path, key: AgeKey, tmp_path_factory: pytest.TempPathFactory) -> str:
    plain = secret_yaml("orders-db", "shop", {"password": PASSWORD, "config.yaml": CONFIG, "empty": ""})
    return encrypt(sops, plain, key.public, tmp_path_factory.mktemp("enc"))


def test_decrypts_what_sops_encrypted_value_for_value(
    orders_db: str, keys: AgeKeys, sops: Path, key: AgeKey, tmp_path: Path
) -> None:
    assert PASSWORD not in orders_db
    assert yaml.safe_load(orders_db)["metadata"]["namespace"].startswith("ENC[AES256_GCM,")
    opened = decrypt(orders_db, keys)
    code, out = decrypt_with_sops(sops, orders_db, key, tmp_path)
    assert code == 0
    assert opened.document == yaml.safe_load(out)
    assert opened.document["stringData"]["password"] == PASSWORD
    assert opened.was_encrypted("metadata", "namespace") and not opened.was_encrypted("metadata", "name")


def test_the_mac_covers_unencrypted_values_typed_as_sops_types_them(
    sops: Path, key: AgeKey, keys: AgeKeys, tmp_path: Path
) -> None:
    # Unencrypted values of every YAML type: one wrong byte in the typing would break the MAC.
    plain = (
        "count: 0755\nhex: 0x1F\nfloat: 2.0\nyes_is_text: yes\nflag: true\nnothing: null\n"
        "day: 2024-01-02\nwhen: 2024-01-02 03:04:05\nnested:\n  - {a: 1, b: [x, 08]}\ntoken: abc\n"
    )
    encrypted = encrypt(sops, plain, key.public, tmp_path, regex="^token$")
    opened = decrypt(encrypted, keys)
    code, out = decrypt_with_sops(sops, encrypted, key, tmp_path)
    assert code == 0
    by_sops = yaml.safe_load(out)
    for name in ("count", "hex", "float", "flag", "nothing", "nested", "token"):
        assert opened.document[name] == by_sops[name], name
    assert opened.document["count"] == 493 and opened.document["yes_is_text"] == "yes"
    assert opened.document["token"] == "abc"
    assert opened.document["day"] == "2024-01-02T00:00:00Z"


def _flip(text: str, marker: str) -> str:
    start = text.index(marker) + len(marker)
    bad = "A" if text[start] != "A" else "B"
    return text[:start] + bad + text[start + 1 :]


def test_tampering_is_refused(orders_db: str, keys: AgeKeys) -> None:
    cases = {
        "a flipped ciphertext": _flip(orders_db, "password: ENC[AES256_GCM,data:"),
        "a renamed Secret": orders_db.replace("name: orders-db", "name: orders-dc"),
        "a flipped MAC": _flip(orders_db, "mac: ENC[AES256_GCM,data:"),
        "swapped values": orders_db.replace("password: ENC", "passwrd: ENC"),
    }
    messages = {}
    for what, text in cases.items():
        with pytest.raises(SecretError) as raised:
            decrypt(text, keys)
        messages[what] = str(raised.value)
        assert PASSWORD not in messages[what]
    assert messages["a flipped ciphertext"].startswith("stringData.password cannot be decrypted")
    assert messages["a renamed Secret"].startswith("the file's MAC does not match its values")
    assert messages["a flipped MAC"].startswith("the file's MAC cannot be decrypted")
    assert messages["swapped values"].startswith("stringData.passwrd cannot be decrypted")
    other = AgeKeys.parse(AgeKey.generate().keys_txt(), origin="another key")
    with pytest.raises(SecretError, match="none of the file's age recipients is a key of the daemon"):
        decrypt(orders_db, other)


def test_hostile_files_fail_fast(keys: AgeKeys) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    deep = "x: " + "[" * 5000 + "]" * 5000 + "\n"
    for text, message in (
        (bomb + "sops: {}\n", "aliases"),
        (deep, "not valid YAML|nested"),
        ("not: sops\n", "no sops block"),
        ("sops:\n  age: []\n  mac: x\n", "not encrypted for any age recipient"),
        ("sops:\n  key_groups: [{age: []}]\n", "key groups"),
        ("[unclosed\n", "not valid YAML"),
    ):
        started = time.monotonic()
        with pytest.raises(SecretError, match=message):
            decrypt(text, keys)
        assert time.monotonic() - started < 2


def _repo_with(tmp_path: Path, files: dict[str, str]) -> Path:
    return repo(tmp_path, files)


def test_the_envelope_is_checked_without_the_key(sops: Path, key: AgeKey, orders_db: str, tmp_path: Path) -> None:
    plaintext = (
        secret_yaml("leak", "shop", {"password": PASSWORD}) + "sops: {age: [{enc: x}], mac: x, lastmodified: x}\n"
    )
    open_namespace = encrypt(
        sops, secret_yaml("open-ns", "shop", {"k": "v"}), key.public, tmp_path / "a", regex="^(data|stringData)$"
    )
    no_namespace = encrypt(sops, secret_yaml("no-ns", None, {"k": "v"}), key.public, tmp_path / "b")
    token = encrypt(
        sops,
        secret_yaml("tok", "shop", {"k": "v"}, kind="kubernetes.io/service-account-token"),
        key.public,
        tmp_path / "c",
    )
    unencrypted = secret_yaml("plain", "shop", {"k": "v"})
    root = _repo_with(
        tmp_path / "repo",
        {
            "tenants/shop/secrets/leak.yaml": plaintext,
            "tenants/shop/secrets/open.yaml": open_namespace,
            "tenants/shop/secrets/nons.yaml": no_namespace,
            "tenants/shop/secrets/token.yaml": token,
            "tenants/shop/secrets/plain.yaml": unencrypted,
            "tenants/shop/secrets/db.yaml": orders_db,
            "tenants/shop/secrets/db-again.yaml": orders_db,
        },
    )
    result = load_repo(root)
    found = {(f.split("/")[-1], m) for f, _, m in errors(result)}
    assert found == {
        ("db.yaml", "duplicate Secret 'orders-db' in tenant 'shop'"),
        ("leak.yaml", "the value of stringData.password is not encrypted: never commit a Secret's value in clear text"),
        (
            "leak.yaml",
            "metadata.namespace is not encrypted, so nothing stops this file being replayed in another tenant",
        ),
        ("nons.yaml", "metadata.namespace is missing: it must name tenant 'shop', encrypted"),
        (
            "open.yaml",
            "metadata.namespace is not encrypted, so nothing stops this file being replayed in another tenant",
        ),
        ("plain.yaml", "this Secret is not encrypted: the file has no sops block"),
        ("token.yaml", "'kubernetes.io/service-account-token' is not a Secret type tenants may keep"),
    }
    leak = next(p for p in result.errors if p.file.endswith("leak.yaml") and "clear text" in p.message)
    assert leak.line == line_of(plaintext, "password:")
    assert all(PASSWORD not in p.format() for p in result.problems)


def test_opened_secrets_render_in_their_tenant_only(
    sops: Path, key: AgeKey, keys: AgeKeys, orders_db: str, tmp_path: Path
) -> None:
    root = _repo_with(tmp_path / "ok", {"tenants/shop/secrets/orders-db.yaml": orders_db})
    result = load_repo(root)
    assert errors(result) == [] and result.model is not None
    model = result.model
    (sealed,) = model.secrets
    assert PASSWORD not in repr(sealed)
    objects = render(model, "r1", secrets=SecretOpener(keys).open(model.secrets))
    secret = by(objects, "Secret", "orders-db", "shop")
    assert secret["type"] == "Opaque" and "stringData" not in secret
    assert base64.b64decode(secret["data"]["password"]).decode() == PASSWORD
    assert base64.b64decode(secret["data"]["config.yaml"]).decode() == CONFIG
    assert secret["data"]["empty"] == ""
    assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "dockyard"

    # The same file copied into another tenant's folder decrypts, but is refused whole.
    moved = _repo_with(tmp_path / "moved", {"tenants/other/secrets/stolen.yaml": orders_db})
    stolen = load_repo(moved)
    assert errors(stolen) == [] and stolen.model is not None
    with pytest.raises(ValidationFailed) as refused:
        SecretOpener(keys).open(stolen.model.secrets)
    (problem,) = refused.value.problems
    assert problem.file == "tenants/other/secrets/stolen.yaml"
    assert problem.message == (
        "cannot decrypt Secret 'orders-db': it is encrypted for namespace 'shop', not for tenant 'other' "
        "whose folder holds it"
    )
    # Without a key nothing renders: the revision is refused, with what to do.
    with pytest.raises(ValidationFailed) as keyless:
        render(model, "r1", secrets=SecretOpener(None).open(model.secrets))
    assert keyless.value.problems[0].hint.startswith("give the daemon its age key: DOCKYARD_AGE_KEY")
    with pytest.raises(ValidationFailed, match="was not decrypted"):
        render(model, "r1")


def test_the_key_comes_from_the_environment_or_a_file(key: AgeKey, tmp_path: Path) -> None:
    assert age_keys({}) is None
    assert age_keys({"DOCKYARD_AGE_KEY": key.keys_txt()}) is not None
    path = tmp_path / "keys.txt"
    path.write_text(key.keys_txt())
    assert age_keys({"DOCKYARD_AGE_KEY_FILE": str(path)}) is not None
    with pytest.raises(ConfigError) as bad:
        age_keys({"DOCKYARD_AGE_KEY": "AGE-SECRET-KEY-1NOTAKEY"})
    assert "NOTAKEY" not in str(bad.value)
    with pytest.raises(ConfigError, match="holds no age identity"):
        age_keys({"DOCKYARD_AGE_KEY": key.public})
    with pytest.raises(ConfigError, match="cannot read DOCKYARD_AGE_KEY_FILE"):
        age_keys({"DOCKYARD_AGE_KEY_FILE": str(tmp_path / "missing")})
    assert key.secret not in repr(AgeKeys.parse(key.keys_txt(), origin="x"))


def test_a_revision_whose_secrets_cannot_be_opened_is_rejected_whole(
    sops: Path, key: AgeKey, keys: AgeKeys, tmp_path: Path
) -> None:
    from daemon.edges.metrics import DaemonMetrics
    from daemon.engine.reconcile import Reconciler
    from daemon.model.events import MemorySink
    from tests.engine.ports import MemoryCluster, MemorySource
    from tests.platforms import PlatformRepo

    platform = PlatformRepo(tmp_path / "platform", "shop", apps=1)
    platform.extra["secrets/db.yaml"] = encrypt(
        sops, secret_yaml("db", "shop", {"password": PASSWORD}), key.public, tmp_path / "e1"
    )
    source, cluster, sink = MemorySource(platform, tmp_path / "revisions"), MemoryCluster(), MemorySink()
    reconciler = Reconciler(source, cluster, sink, metrics=DaemonMetrics(), secrets=SecretOpener(keys))
    source.commit("a secret")
    assert reconciler.cycle("poll").result == "succeeded"
    (secret,) = [o for o in cluster.live.values() if o["kind"] == "Secret"]
    assert base64.b64decode(secret["data"]["password"]).decode() == PASSWORD

    # A Secret encrypted for another tenant: nothing of the commit is applied, nothing leaks.
    platform.extra["secrets/db.yaml"] = encrypt(
        sops, secret_yaml("db", "payments", {"password": "other-" + PASSWORD}), key.public, tmp_path / "e2"
    )
    platform.apps["app0"]["spec"]["image"] = "busybox:1.37"
    source.commit("a stolen secret")
    before = dict(cluster.live)
    outcome = reconciler.cycle("webhook")
    assert (outcome.result, outcome.stopped_at) == ("invalid", "validation")
    assert cluster.live == before
    (event,) = [e for e in sink.events if e.name == "validation.failed"]
    assert any("tenants/shop/secrets/db.yaml" in e and "namespace 'payments'" in e for e in event.errors)
    assert PASSWORD not in event.summary + "".join(event.errors)
