"""Ed25519 keys and signatures on the wire: standard base64, 32-byte keys, 64-byte signatures."""

from __future__ import annotations

import base64
import binascii
import hashlib

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from aim_identity.errors import BadUserInput


def _b64(value: str, length: int, what: str, field: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadUserInput(f"{what} is not valid base64", field=field) from None
    if len(raw) != length:
        raise BadUserInput(f"{what} must be {length} bytes, got {len(raw)}", field=field)
    return raw


def public_key(value: str, field: str = "publicKey") -> bytes:
    return _b64(value, 32, "An Ed25519 public key", field)


def signature(value: str, field: str = "signature") -> bytes:
    return _b64(value, 64, "An Ed25519 signature", field)


def nonce(value: str, field: str = "nonce") -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadUserInput("The nonce is not valid base64", field=field) from None
    if not 8 <= len(raw) <= 64:
        raise BadUserInput("A nonce must be 8 to 64 bytes", field=field)
    return raw


def encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def fingerprint(raw_public_key: bytes) -> str:
    return hashlib.sha256(raw_public_key).hexdigest()


def verifies(raw_public_key: bytes, message: bytes, raw_signature: bytes) -> bool:
    try:
        VerifyKey(raw_public_key).verify(message, raw_signature)
        return True
    except BadSignatureError:
        return False


def generate() -> tuple[bytes, bytes]:
    """A fresh key pair as (seed, public key). The caller hands the seed out once and forgets it."""
    key = SigningKey.generate()
    return bytes(key), bytes(key.verify_key)
