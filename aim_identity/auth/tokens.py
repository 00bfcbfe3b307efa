"""EdDSA JWTs exactly as PROTOCOL.md describes them: access tokens for users, agent tokens for
verified agents. Verification pins the algorithm and requires exp, iat, iss, aud and sub."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt

from aim_identity.auth.keyring import Keyring
from aim_identity.errors import Unauthenticated

ACCESS_TYP, ACCESS_AUD = "at+jwt", "aim-api"
AGENT_TYP, AGENT_AUD = "aim-agent+jwt", "aim-agent"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: int
    jti: str


def issue(
    keyring: Keyring,
    *,
    typ: str,
    audience: str,
    issuer: str,
    subject: str,
    ttl: int,
    claims: dict[str, Any],
    jti: str | None = None,
    now: int | None = None,
) -> IssuedToken:
    """`jti` and `now` for a caller that has recorded the token under them already."""
    now = now or int(time.time())
    jti = jti or secrets.token_urlsafe(16)
    payload = {"iss": issuer, "aud": audience, "sub": subject, "iat": now, "exp": now + ttl, "jti": jti, **claims}
    token = jwt.encode(
        payload, keyring.current.private_key, algorithm="EdDSA", headers={"kid": keyring.current.kid, "typ": typ}
    )
    return IssuedToken(token, now + ttl, jti)


# Checking the signature and decoding cost more than the rest of authentication, so a token this
# process has verified is remembered, by its whole text and the keyring, until it expires.
_VERIFIED: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
VERIFIED_KEPT = 4096


def verify(keyring: Keyring, token: str, *, typ: str, audience: str, issuer: str) -> dict[str, Any]:
    remembered = (keyring.current.kid, token, typ, audience, issuer)
    claims = _VERIFIED.get(remembered)
    if claims is None:
        claims = _verify(keyring, token, typ=typ, audience=audience, issuer=issuer)
        _VERIFIED[remembered] = claims
        if len(_VERIFIED) > VERIFIED_KEPT:
            _VERIFIED.popitem(last=False)
    elif time.time() >= claims["exp"]:  # as PyJWT decides expiry, with no leeway
        del _VERIFIED[remembered]
        raise Unauthenticated("Token expired")
    return claims


def _verify(keyring: Keyring, token: str, *, typ: str, audience: str, issuer: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
        key = keyring.find(header.get("kid", ""))
        if key is None or header.get("typ") != typ:
            raise Unauthenticated("Invalid token")
        return jwt.decode(
            token,
            key.public_key,
            algorithms=["EdDSA"],
            audience=audience,
            issuer=issuer,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("Token expired") from None
    except jwt.PyJWTError:
        raise Unauthenticated("Invalid token") from None


@lru_cache(maxsize=VERIFIED_KEPT)
def claimed_type(token: str) -> str | None:
    """The `typ` a token claims, to pick how to verify it; only `verify` makes it trustworthy."""
    try:
        return jwt.get_unverified_header(token).get("typ")
    except jwt.PyJWTError:
        return None
