"""The service's own keys, derived from the service secret: Ed25519 keys that sign its tokens, and
AES-256-GCM keys that seal what it must keep secret yet use again (TOTP secrets).

Every replica derives the same keys from the same secret, so each accepts the tokens the others
issued and opens what the others sealed. Keys derived from retired secrets stay in the JWKS until
their tokens have expired, and still open what they sealed; new seals use the current key."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from aim_identity.config import Settings
from aim_identity.models import RetiredSigningKey, ServiceSecret

log = logging.getLogger(__name__)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _derive(secret: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode())


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey
    trusted_until: datetime | None = None  # a retired key's: when the last token it signed expires

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def public_bytes(self) -> bytes:
        return self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def jwk(self) -> dict:
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64url(self.public_bytes),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        }

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    @classmethod
    def derive(cls, secret: str) -> SigningKey:
        key = Ed25519PrivateKey.from_private_bytes(_derive(secret, b"aim/service-signing-key/v1"))
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return cls(kid=hashlib.sha256(public).hexdigest()[:16], private_key=key)


@dataclass(frozen=True)
class SealingKey:
    kid: str
    key: bytes

    @classmethod
    def derive(cls, secret: str) -> SealingKey:
        key = _derive(secret, b"aim/sealing-key/v1")
        return cls(kid=hashlib.sha256(key).hexdigest()[:16], key=key)


class Unsealable(ValueError):
    """A sealed value that no key of this keyring opens, or that was changed or moved."""


@dataclass(frozen=True)
class Keyring:
    current: SigningKey
    retired: tuple[SigningKey, ...] = ()
    sealing: tuple[SealingKey, ...] = ()  # the current one first
    # Keys the service's own short-lived tickets (challenge IDs) are authenticated with (HMAC-SHA256).
    challenge_key: bytes = b""

    @classmethod
    def derive(cls, secret: str, retired_secrets: tuple[str, ...] = ()) -> Keyring:
        return cls(
            SigningKey.derive(secret),
            tuple(SigningKey.derive(s) for s in retired_secrets),
            tuple(SealingKey.derive(s) for s in (secret, *retired_secrets)),
            _derive(secret, b"aim/challenge-key/v1"),
        )

    def trusted(self) -> tuple[SigningKey, ...]:
        """The keys whose tokens still verify: the current one, and each retired one until its tokens expire."""
        now = datetime.now(UTC)
        return (self.current, *(k for k in self.retired if k.trusted_until is None or k.trusted_until > now))

    def find(self, kid: str) -> SigningKey | None:
        return next((k for k in self.trusted() if k.kid == kid), None)

    def jwks(self) -> dict:
        return {"keys": [k.jwk for k in self.trusted()]}

    def seal(self, plaintext: bytes, bound_to: bytes) -> str:
        """`v1.<key id>.<base64url of nonce + ciphertext>`; it opens only with the same `bound_to` (the
        row it belongs to), so a sealed value copied to another row is useless."""
        key = self.sealing[0]
        nonce = os.urandom(12)
        return f"v1.{key.kid}.{b64url(nonce + AESGCM(key.key).encrypt(nonce, plaintext, bound_to))}"

    def unseal(self, sealed: str, bound_to: bytes) -> bytes:
        version, _, rest = sealed.partition(".")
        kid, _, body = rest.partition(".")
        key = next((k for k in self.sealing if k.kid == kid), None)
        if version != "v1" or key is None:
            raise Unsealable("sealed with a key this service no longer holds")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return AESGCM(key.key).decrypt(raw[:12], raw[12:], bound_to)
        except (InvalidTag, binascii.Error, ValueError):
            raise Unsealable("the sealed value was changed or belongs elsewhere") from None


async def load_keyring(settings: Settings) -> Keyring:
    secret = settings.secret_key
    if secret is None:  # development only: the settings refuse production without a secret
        secret = await _development_secret()
    keyring = Keyring.derive(secret, settings.retired_secret_keys)
    # No token outlives the longest lifetime a token is issued with.
    lifetime = timedelta(seconds=max(settings.access_token_ttl, settings.agent_token_ttl))
    retired = []
    for key in keyring.retired:
        record, _ = await RetiredSigningKey.get_or_create(kid=key.kid)
        retired.append(replace(key, trusted_until=record.retired_at + lifetime))
    return replace(keyring, retired=tuple(retired))


async def _development_secret() -> str:
    row, created = await ServiceSecret.get_or_create(id=1, defaults={"secret": secrets.token_urlsafe(48)})
    log.warning(
        "AIM_SECRET_KEY is not set: using a development secret %s in the database. Set AIM_SECRET_KEY in production.",
        "generated and stored" if created else "stored",
    )
    return row.secret
