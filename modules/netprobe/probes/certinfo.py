"""Certificate fields people read: names, validity, key, fingerprint (via `cryptography`)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID


def describe(der: bytes, now: datetime) -> dict[str, Any]:
    cert = x509.load_der_x509_certificate(der)
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    key_type, key_size, curve = _key(cert)
    fingerprint = cert.fingerprint(hashes.SHA256()).hex().upper()
    return {
        "subject": cert.subject.rfc4514_string(),
        "subject_cn": _cn(cert.subject),
        "sans": _sans(cert),
        "issuer": cert.issuer.rfc4514_string(),
        "issuer_cn": _cn(cert.issuer),
        "serial": f"{cert.serial_number:X}",
        "not_before": not_before.isoformat(),
        "not_after": not_after.isoformat(),
        # floor, so a certificate that expires in 3 hours has 0 days left, and -1 once expired
        "days_left": math.floor((not_after - now).total_seconds() / 86400),
        "expired": now > not_after,
        "not_yet_valid": now < not_before,
        "key_type": key_type,
        "key_size": key_size,
        "key_curve": curve,
        "signature_algorithm": _signature(cert),
        "sha256_fingerprint": ":".join(
            fingerprint[i : i + 2] for i in range(0, len(fingerprint), 2)
        ),
        "self_signed": cert.subject == cert.issuer,
        "is_ca": _is_ca(cert),
    }


def _cn(name: x509.Name) -> str | None:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


def _sans(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names = [str(n) for n in ext.get_values_for_type(x509.DNSName)]
    names += [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)]
    return names


def _key(cert: x509.Certificate) -> tuple[str, int | None, str | None]:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, None
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size, key.curve.name
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256, None
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456, None
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size, None
    return type(key).__name__, None, None


def _signature(cert: x509.Certificate) -> str:
    oid = cert.signature_algorithm_oid
    return getattr(oid, "_name", None) or oid.dotted_string


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False
