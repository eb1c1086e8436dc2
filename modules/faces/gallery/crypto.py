"""Descriptors encrypted at rest: one random 256-bit data key per subject, AES-GCM.

A subject's data key is stored only wrapped (AES-GCM) by a master key; each descriptor is
sealed with the subject's key, a fresh 96-bit nonce and associated data binding it to its
reference and subject, so a sealed descriptor copied onto another row does not open. Deleting
the wrapped key makes every copy of the subject's descriptors unreadable. Django-free.
"""

from __future__ import annotations

import os
from typing import Any

KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT = b"\x01"  # first byte of every sealed value: room for another scheme later


class Unreadable(Exception):
    """Wrong key, wrong associated data, or tampered/truncated ciphertext."""


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return FORMAT + nonce + _aesgcm(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[:1] != FORMAT:
        raise Unreadable("not a sealed value")
    from cryptography.exceptions import InvalidTag

    nonce = sealed[1 : 1 + NONCE_BYTES]
    try:
        return _aesgcm(key).decrypt(nonce, sealed[1 + NONCE_BYTES :], aad)
    except InvalidTag:
        raise Unreadable("the key or the associated data does not match") from None


def _aesgcm(key: bytes) -> Any:
    # Imported on first use: the portal starts without loading OpenSSL's bindings.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def subject_aad(subject_id: int) -> bytes:
    return b"portal.faces.subject-key:" + str(subject_id).encode()


def reference_aad(reference_uid: str, subject_id: int) -> bytes:
    return f"portal.faces.reference:{reference_uid}:subject:{subject_id}".encode()


def wrap_key(master_key: bytes, data_key: bytes, subject_id: int) -> bytes:
    return seal(master_key, data_key, subject_aad(subject_id))


def unwrap_key(master_key: bytes, wrapped: bytes, subject_id: int) -> bytes:
    return open_sealed(master_key, wrapped, subject_aad(subject_id))
