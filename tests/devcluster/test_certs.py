"""The generated PKI: what each component needs to trust whom, and keys kept private."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devcluster import certs

SERVICE_IP = ipaddress.IPv4Address("10.96.0.1")


@pytest.fixture(scope="module")
def pki() -> certs.ClusterPKI:
    return certs.generate_pki(SERVICE_IP)


def _subject(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(attr.value) for attr in cert.subject.get_attributes_for_oid(oid)]


def _usages(cert: x509.Certificate) -> set[x509.ObjectIdentifier]:
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_ca_is_a_self_signed_ca(pki: certs.ClusterPKI) -> None:
    ca = pki.ca.cert
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ca.verify_directly_issued_by(ca)


def test_apiserver_cert_covers_every_name_clients_use(pki: certs.ClusterPKI) -> None:
    cert = pki.apiserver.cert
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value

    assert set(sans.get_values_for_type(x509.DNSName)) == {
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    }
    assert set(sans.get_values_for_type(x509.IPAddress)) == {ipaddress.IPv4Address("127.0.0.1"), SERVICE_IP}
    assert _usages(cert) == {ExtendedKeyUsageOID.SERVER_AUTH}
    cert.verify_directly_issued_by(pki.ca.cert)


@pytest.mark.parametrize(
    ("stem", "common_name", "groups"),
    [
        ("admin", "dockyard-admin", ["system:masters"]),
        ("kube-controller-manager", "system:kube-controller-manager", []),
        ("kube-scheduler", "system:kube-scheduler", []),
        ("kwok", "kwok-controller", ["system:masters"]),
    ],
)
def test_client_certs_carry_the_identity_rbac_expects(
    pki: certs.ClusterPKI, stem: str, common_name: str, groups: list[str]
) -> None:
    cert = pki.clients[stem].cert

    assert _subject(cert, NameOID.COMMON_NAME) == [common_name]
    assert _subject(cert, NameOID.ORGANIZATION_NAME) == groups
    assert _usages(cert) == {ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert.verify_directly_issued_by(pki.ca.cert)


def test_front_proxy_client_is_signed_by_its_own_ca(pki: certs.ClusterPKI) -> None:
    client = pki.front_proxy_client.cert

    assert _subject(client, NameOID.COMMON_NAME) == [certs.FRONT_PROXY_CLIENT_CN]
    client.verify_directly_issued_by(pki.front_proxy_ca.cert)
    with pytest.raises(ValueError):
        client.verify_directly_issued_by(pki.ca.cert)


def test_each_key_matches_its_certificate(pki: certs.ClusterPKI) -> None:
    for pair in [pki.ca, pki.apiserver, pki.front_proxy_ca, pki.front_proxy_client, *pki.clients.values()]:
        key = serialization.load_pem_private_key(pair.key_pem, password=None)
        assert key.public_key() == pair.cert.public_key()


def test_service_account_keys_are_an_rsa_pair(pki: certs.ClusterPKI) -> None:
    private = serialization.load_pem_private_key(pki.service_account_key_pem, password=None)
    public = serialization.load_pem_public_key(pki.service_account_pub_pem)

    assert isinstance(private, rsa.RSAPrivateKey)
    assert private.key_size >= 2048
    assert private.public_key() == public


def test_written_keys_are_readable_only_by_the_owner(pki: certs.ClusterPKI, tmp_path: Path) -> None:
    files = certs.write_pki(pki, tmp_path / "pki")

    for path in [files.key("ca"), files.key("apiserver"), files.key("admin"), files.sa_key]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(files.directory.stat().st_mode) == 0o700
    assert files.cert("apiserver").read_bytes() == pki.apiserver.cert_pem
    assert files.sa_pub.read_bytes() == pki.service_account_pub_pem
