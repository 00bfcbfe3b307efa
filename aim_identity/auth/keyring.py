"""The service's own Ed25519 signing keys, derived from the service secret.

Every replica derives the same keys from the same secret, so each accepts the tokens the others
issued. Keys derived from retired secrets stay in the JWKS until their tokens have expired."""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from aim_identity.config import Settings
from aim_identity.models import ServiceSecret

log = logging.getLogger(__name__)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def public_bytes(self) -> bytes:
        return self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def jwk(self) -> dict:
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(self.public_bytes), "kid": self.kid,
                "alg": "EdDSA", "use": "sig"}

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    @classmethod
    def derive(cls, secret: str) -> SigningKey:
        seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=b"aim/service-signing-key/v1").derive(secret.encode())
        key = Ed25519PrivateKey.from_private_bytes(seed)
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return cls(kid=hashlib.sha256(public).hexdigest()[:16], private_key=key)


@dataclass(frozen=True)
class Keyring:
    current: SigningKey
    retired: tuple[SigningKey, ...] = ()

    def find(self, kid: str) -> SigningKey | None:
        return next((k for k in (self.current, *self.retired) if k.kid == kid), None)

    def jwks(self) -> dict:
        return {"keys": [k.jwk for k in (self.current, *self.retired)]}


async def load_keyring(settings: Settings) -> Keyring:
    secret = settings.secret_key
    if secret is None:  # development only: the settings refuse production without a secret
        secret = await _development_secret()
    return Keyring(SigningKey.derive(secret), tuple(SigningKey.derive(s) for s in settings.retired_secret_keys))


async def _development_secret() -> str:
    row, created = await ServiceSecret.get_or_create(id=1, defaults={"secret": secrets.token_urlsafe(48)})
    log.warning("AIM_SECRET_KEY is not set: using a development secret %s in the database. "
                "Set AIM_SECRET_KEY in production.", "generated and stored" if created else "stored")
    return row.secret
