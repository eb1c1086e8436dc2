"""A throwaway PKI for loopback TLS servers: root CA -> intermediate -> leaf, plus bad leaves."""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
LOOPBACK_SANS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: PrivateKey
    chain_file: Path  # leaf (+ intermediate) PEM, as a server presents it
    key_file: Path

    def server_context(self, alpn: tuple[str, ...] = ("http/1.1",)) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.chain_file, self.key_file)
        if alpn:
            context.set_alpn_protocols(list(alpn))
        return context


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Portal NetProbe tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _sans(names: tuple[str, ...]) -> x509.SubjectAlternativeName:
    general: list[x509.GeneralName] = []
    for name in names:
        try:
            general.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            general.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(general)


def make_cert(
    cn: str,
    key: PrivateKey,
    *,
    issuer: tuple[x509.Certificate, PrivateKey] | None = None,
    is_ca: bool = False,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    sans: tuple[str, ...] = (),
) -> x509.Certificate:
    now = datetime.now(UTC)
    issuer_name, issuer_key = (issuer[0].subject, issuer[1]) if issuer else (_name(cn), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(days=1))
        .not_valid_after(not_after or now + timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if is_ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    else:
        eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
        builder = builder.add_extension(eku, critical=False)
    if sans:
        builder = builder.add_extension(_sans(sans), critical=False)
    builder = builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
    )
    if issuer:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())
        builder = builder.add_extension(aki, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


class TestPKI:
    """Writes PEM files under `directory`: `ca_file` is the trust anchor clients load."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        now = datetime.now(UTC)
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = make_cert("NetProbe Test Root CA", self.root_key, is_ca=True)
        self.intermediate_key = ec.generate_private_key(ec.SECP256R1())
        self.intermediate = make_cert(
            "NetProbe Test Intermediate CA",
            self.intermediate_key,
            issuer=(self.root, self.root_key),
            is_ca=True,
        )
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(_pem(self.root))
        signer = (self.intermediate, self.intermediate_key)
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.valid = self._issue("valid", rsa_key, issuer=signer, sans=LOOPBACK_SANS)
        self.expired = self._issue(
            "expired",
            ec.generate_private_key(ec.SECP256R1()),
            issuer=signer,
            sans=LOOPBACK_SANS,
            not_before=now - timedelta(days=60),
            not_after=now - timedelta(days=2),
        )
        self.self_signed = self._issue(
            "self-signed", ec.generate_private_key(ec.SECP256R1()), sans=LOOPBACK_SANS
        )

    def _issue(
        self,
        label: str,
        key: PrivateKey,
        *,
        issuer: tuple[x509.Certificate, PrivateKey] | None = None,
        sans: tuple[str, ...] = (),
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> Issued:
        cert = make_cert(
            "localhost",
            key,
            issuer=issuer,
            sans=sans,
            not_before=not_before,
            not_after=not_after,
        )
        chain_file = self.directory / f"{label}-chain.pem"
        chain_file.write_bytes(_pem(cert) + (_pem(issuer[0]) if issuer else b""))
        key_file = self.directory / f"{label}-key.pem"
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return Issued(cert, key, chain_file, key_file)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)
