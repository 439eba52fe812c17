"""The PKI of a local control plane: one CA, the API server's serving cert, client certs.

TLS keys are ECDSA P-256 because generating them is instant and every component accepts them; the
service-account signing key is RSA because RS256 is what tokens are expected to carry.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from daemon.errors import DevClusterError

#: DNS names clients inside and outside the cluster use for the API server.
APISERVER_DNS_NAMES: tuple[str, ...] = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
FRONT_PROXY_CLIENT_CN = "front-proxy-client"
#: The aggregator checks an APIService's serving cert against ``<service>.<namespace>.svc``.
METRICS_SERVER_DNS_NAMES: tuple[str, ...] = ("metrics-server.kube-system.svc", "localhost")
#: metrics-server's user: no group, so it has only what devcluster.metrics grants it.
METRICS_SERVER_USER = "dockyard-metrics-server"
_VALIDITY = dt.timedelta(days=365)
#: Backdating absorbs clock skew between this host and anything checking the certs.
_BACKDATE = dt.timedelta(hours=1)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class Identity:
    """Subject of a client certificate: Kubernetes maps CN to the user and O to groups."""

    common_name: str
    organizations: tuple[str, ...] = ()


#: The client identities a local cluster needs, by file stem.
CLIENTS: dict[str, Identity] = {
    "admin": Identity("dockyard-admin", ("system:masters",)),
    "kube-controller-manager": Identity("system:kube-controller-manager"),
    "kube-scheduler": Identity("system:kube-scheduler"),
    "kwok": Identity("kwok-controller", ("system:masters",)),
    "metrics-server": Identity(METRICS_SERVER_USER),
}


@dataclass(frozen=True)
class CertKey:
    """A certificate with its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


@dataclass(frozen=True)
class ClusterPKI:
    ca: CertKey
    apiserver: CertKey
    clients: dict[str, CertKey]
    front_proxy_ca: CertKey
    front_proxy_client: CertKey
    metrics_server: CertKey
    service_account_key_pem: bytes
    service_account_pub_pem: bytes


@dataclass(frozen=True)
class PKIFiles:
    """Where :func:`write_pki` put everything; these paths go on the components' command lines."""

    directory: Path

    def cert(self, stem: str) -> Path:
        return self.directory / f"{stem}.crt"

    def key(self, stem: str) -> Path:
        return self.directory / f"{stem}.key"

    @property
    def sa_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.directory / "sa.pub"


def _new_tls_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(identity: Identity) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in identity.organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, identity.common_name))
    return x509.Name(attributes)


def _builder(subject: x509.Name, issuer: x509.Name, key: PrivateKey, now: dt.datetime) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def make_ca(common_name: str, now: dt.datetime | None = None) -> CertKey:
    now = now or dt.datetime.now(dt.UTC)
    key = _new_tls_key()
    name = _name(Identity(common_name))
    cert = (
        _builder(name, name, key, now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return CertKey(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def issue(
    ca: CertKey,
    identity: Identity,
    *,
    server: bool = False,
    dns_names: tuple[str, ...] = (),
    ips: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...] = (),
    now: dt.datetime | None = None,
) -> CertKey:
    """Signs a leaf certificate for ``identity``: a client cert, or a serving cert with SANs."""
    now = now or dt.datetime.now(dt.UTC)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise DevClusterError("the CA key must be ECDSA or RSA")
    ca_cert = ca.cert
    key = _new_tls_key()
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server else [ExtendedKeyUsageOID.CLIENT_AUTH]
    builder = (
        _builder(_name(identity), ca_cert.subject, key, now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    sans += [x509.IPAddress(ip) for ip in ips]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return CertKey(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def make_service_account_keys() -> tuple[bytes, bytes]:
    """Returns (private PEM, public PEM) of the key that signs service-account tokens."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _key_pem(key), public


def generate_pki(first_service_ip: ipaddress.IPv4Address) -> ClusterPKI:
    """Everything a cluster needs; ``first_service_ip`` is the ``kubernetes`` Service's ClusterIP."""
    now = dt.datetime.now(dt.UTC)
    ca = make_ca("dockyard-dev-cluster-ca", now)
    apiserver = issue(
        ca,
        Identity("kube-apiserver"),
        server=True,
        dns_names=APISERVER_DNS_NAMES,
        ips=(ipaddress.IPv4Address("127.0.0.1"), first_service_ip),
        now=now,
    )
    clients = {stem: issue(ca, identity, now=now) for stem, identity in CLIENTS.items()}
    front_proxy_ca = make_ca("dockyard-dev-cluster-front-proxy-ca", now)
    front_proxy_client = issue(front_proxy_ca, Identity(FRONT_PROXY_CLIENT_CN), now=now)
    metrics_server = issue(
        ca,
        Identity("metrics-server"),
        server=True,
        dns_names=METRICS_SERVER_DNS_NAMES,
        ips=(ipaddress.IPv4Address("127.0.0.1"),),
        now=now,
    )
    sa_key, sa_pub = make_service_account_keys()
    return ClusterPKI(ca, apiserver, clients, front_proxy_ca, front_proxy_client, metrics_server, sa_key, sa_pub)


def _write(path: Path, data: bytes, mode: int) -> None:
    # Created with the final mode so a private key is never readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def write_pki(pki: ClusterPKI, directory: Path) -> PKIFiles:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    files = PKIFiles(directory)
    pairs = {
        "ca": pki.ca,
        "apiserver": pki.apiserver,
        "front-proxy-ca": pki.front_proxy_ca,
        "front-proxy-client": pki.front_proxy_client,
        # "metrics-server" is its client identity; this is the cert it serves the metrics API with.
        "metrics-server-serving": pki.metrics_server,
        **pki.clients,
    }
    for stem, pair in pairs.items():
        _write(files.cert(stem), pair.cert_pem, 0o644)
        _write(files.key(stem), pair.key_pem, 0o600)
    _write(files.sa_key, pki.service_account_key_pem, 0o600)
    _write(files.sa_pub, pki.service_account_pub_pem, 0o644)
    return files
