"""Accounts and sessions over the live API: registration, login, the brute-force guard, refresh-token
rotation, logout, roles, and the access token itself (PROTOCOL.md, Tokens)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aim_identity import ids
from aim_identity.auth import passwords
from aim_identity.auth.keyring import SigningKey
from aim_identity.models import AuditLogEntry, AuthFailure, Organization, Threat, ThreatType, User
from tests.conftest import TEST_SECRET
from tests.support import PASSWORD, Api, create_agent, judged, login

REGISTER = """mutation($i: RegisterInput!) { register(input: $i) {
  accessToken refreshToken expiresIn user { id email name role organization { id name slug } } } }"""
LOGIN = """mutation($i: LoginInput!) { login(input: $i) {
  accessToken refreshToken expiresIn user { id email role lastLoginAt } } }"""
REFRESH = """mutation($i: RefreshInput!) { refreshToken(input: $i) { accessToken refreshToken user { id } } }"""
LOGOUT = """mutation($i: LogoutInput!) { logout(input: $i) { ok } }"""
VIEWER = """{ viewer { id email role organization { id } } }"""
INVITE = """mutation($i: InviteUserInput!) { inviteUser(input: $i) { user { id email role organization { id } } } }"""
UPDATE_ROLE = """mutation($i: UpdateUserRoleInput!) { updateUserRole(input: $i) { user { id role } } }"""
GRANT = """mutation($i: GrantCapabilityInput!) { grantCapability(input: $i) {
  agent { capabilities { name } } } }"""

SERVICE_KEY = SigningKey.derive(TEST_SECRET)


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


def registration(email: str | None = None, password: str = PASSWORD, **overrides) -> dict:
    return {
        "email": unique_email("founder") if email is None else email,
        "password": password,
        "name": "Founder",
        "organizationName": f"Org {uuid.uuid4().hex[:8]}",
        **overrides,
    }


def org_pk(org) -> uuid.UUID:
    return ids.decode(org.id, "Organization")


# ---- registration


async def test_register_creates_an_organization_whose_first_user_is_admin(anonymous):
    values = registration()
    data = (await anonymous(REGISTER, i=values))["register"]
    user = data["user"]
    assert user["role"] == "ADMIN"
    assert user["email"] == values["email"]
    assert user["organization"]["name"] == values["organizationName"]

    me = (await anonymous.as_token(data["accessToken"])(VIEWER))["viewer"]
    assert me == {
        "id": user["id"],
        "email": values["email"],
        "role": "ADMIN",
        "organization": {"id": user["organization"]["id"]},
    }

    row = await User.get(id=ids.decode(user["id"], "User"))
    assert row.organization_id == ids.decode(user["organization"]["id"], "Organization")
    assert await User.filter(organization_id=row.organization_id).count() == 1


async def test_each_registration_makes_a_new_organization(anonymous):
    first = (await anonymous(REGISTER, i=registration()))["register"]["user"]
    second = (await anonymous(REGISTER, i=registration()))["register"]["user"]
    assert first["organization"]["id"] != second["organization"]["id"]
    assert second["role"] == "ADMIN"


@pytest.mark.parametrize("variant", [str, str.upper, str.title], ids=["same", "upper", "title"])
async def test_register_with_a_taken_email_is_a_conflict(anonymous, variant):
    email = unique_email("taken")
    await anonymous(REGISTER, i=registration(email))
    values = registration(variant(email))
    assert await anonymous.error(REGISTER, i=values) == "CONFLICT"
    assert not await Organization.exists(name=values["organizationName"])


@pytest.mark.parametrize(
    "password",
    [
        "x" * 11,
        "",
        "y" * 257,
        "{email}",
        "{email_upper}",
        "{local}",
    ],
    ids=["11-chars", "empty", "257-chars", "email", "email-other-case", "email-local-part"],
)
async def test_register_refuses_a_password_outside_the_policy(anonymous, password):
    email = unique_email("policy-check-local-part")
    local = email.partition("@")[0]
    password = password.format(email=email, email_upper=email.upper(), local=local)
    values = registration(email, password)
    assert await anonymous.error(REGISTER, i=values) == "BAD_USER_INPUT"
    assert not await User.exists(email=email)
    assert not await Organization.exists(name=values["organizationName"])


@pytest.mark.parametrize("length", [12, 256])
async def test_register_accepts_passwords_at_the_policy_bounds(anonymous, url, length):
    email = unique_email("bounds")
    password = ("pässwörd-" * 30)[:length]
    await anonymous(REGISTER, i=registration(email, password))
    person = await login(url, email, password)
    assert (await person.api(VIEWER))["viewer"]["email"] == email


@pytest.mark.parametrize(
    "email", ["not-an-email", "missing-domain@", "@example.com", "two@@example.com", "spaces in@example.com", ""]
)
async def test_register_refuses_an_invalid_email(anonymous, email):
    values = registration(email)
    assert await anonymous.error(REGISTER, i=values) == "BAD_USER_INPUT"
    assert not await Organization.exists(name=values["organizationName"])


# ---- login


async def test_login_returns_a_working_session_and_stores_only_an_argon2id_hash(org, anonymous):
    data = (await anonymous(LOGIN, i={"email": org.admin.email, "password": PASSWORD}))["login"]
    assert data["user"]["id"] == org.admin.user_id
    assert data["user"]["lastLoginAt"] is not None
    assert (await anonymous.as_token(data["accessToken"])(VIEWER))["viewer"]["id"] == org.admin.user_id

    row = await User.get(email=org.admin.email)
    assert row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash
    assert row.password_hash != PASSWORD


async def test_password_hashing_leaves_the_event_loop_free():
    """argon2 takes a large fraction of a second by design; every other request of the process keeps
    being served meanwhile."""
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        hashed = await passwords.hash_password(PASSWORD)
        while_hashing = ticks
        assert await passwords.verify_password(hashed, PASSWORD)
        while_verifying = ticks - while_hashing
        assert not await passwords.verify_password(hashed, PASSWORD + "!")
    finally:
        ticker.cancel()
    assert while_hashing >= 3 and while_verifying >= 3


async def test_login_with_a_wrong_password_or_unknown_email_is_unauthenticated(org, anonymous):
    assert await anonymous.error(LOGIN, i={"email": org.admin.email, "password": PASSWORD + "!"}) == "UNAUTHENTICATED"
    assert await anonymous.error(LOGIN, i={"email": unique_email("ghost"), "password": PASSWORD}) == "UNAUTHENTICATED"
    assert await anonymous.error(LOGIN, i={"email": "not-an-email", "password": PASSWORD}) == "UNAUTHENTICATED"


async def test_login_ignores_the_case_of_the_email(org, anonymous):
    data = (await anonymous(LOGIN, i={"email": org.admin.email.upper(), "password": PASSWORD}))["login"]
    assert data["user"]["id"] == org.admin.user_id


# ---- brute-force guard


async def fail_login(url: str, email: str, n: int) -> None:
    """`n` wrong passwords for `email`, each from a different address, each plainly refused."""
    for i in range(n):
        assert await Api(url).error(LOGIN, i={"email": email, "password": f"wrong password {i}"}) == "UNAUTHENTICATED"


async def test_too_many_failures_lock_the_account_even_for_the_right_password(org, url, settings):
    target = await org.member("MEMBER")
    await fail_login(url, target.email, settings.login_max_failures)

    assert await Api(url).error(LOGIN, i={"email": target.email, "password": PASSWORD}) == "RATE_LIMITED"
    assert await AuthFailure.filter(kind="login", subject=target.email).count() == settings.login_max_failures

    lockouts = await AuditLogEntry.filter(organization_id=org_pk(org), action="auth.lockout")
    assert [e.target_id for e in lockouts] == [target.user_id]
    await judged(org)  # the BRUTE_FORCE rule reads the event stream
    threats = await Threat.filter(organization_id=org_pk(org), type=ThreatType.BRUTE_FORCE)
    assert len(threats) == 1
    assert threats[0].evidence["email"] == target.email

    # The lock is on that account only.
    assert (await login(url, org.admin.email)).user_id == org.admin.user_id


async def test_fewer_failures_than_the_limit_do_not_lock_and_a_success_forgives_them(org, url, settings):
    target = await org.member("MEMBER")
    await fail_login(url, target.email, settings.login_max_failures - 1)
    assert (await login(url, target.email)).user_id == target.user_id
    assert await AuthFailure.filter(kind="login", subject=target.email).count() == 0

    # Forgiven: another run of failures short of the limit still leaves the account open.
    await fail_login(url, target.email, settings.login_max_failures - 1)
    assert (await login(url, target.email)).user_id == target.user_id
    assert not await AuditLogEntry.exists(organization_id=org_pk(org), action="auth.lockout")


async def test_too_many_failures_from_one_address_lock_out_that_address(org, url, settings):
    attacker = Api(url)
    for _ in range(settings.login_ip_max_failures):
        assert (
            await attacker.error(LOGIN, i={"email": unique_email("spray"), "password": PASSWORD}) == "UNAUTHENTICATED"
        )
    assert await AuthFailure.filter(kind="login", ip_address=attacker.ip).count() == settings.login_ip_max_failures

    # Even good credentials are refused from that address, and nowhere else.
    right = {"email": org.admin.email, "password": PASSWORD}
    assert await attacker.error(LOGIN, i=right) == "RATE_LIMITED"
    assert (await Api(url)(LOGIN, i=right))["login"]["user"]["id"] == org.admin.user_id


# ---- refresh tokens


async def refresh(url: str, token: str) -> dict:
    return (await Api(url)(REFRESH, i={"refreshToken": token}))["refreshToken"]


async def refresh_error(url: str, token: str) -> str:
    return await Api(url).error(REFRESH, i={"refreshToken": token})


async def test_refresh_rotates_and_a_reused_token_revokes_its_whole_family(org, url):
    person = await org.member("MEMBER")
    other_session = await login(url, person.email)

    second = await refresh(url, person.refresh_token)
    assert second["user"]["id"] == person.user_id
    assert second["refreshToken"] != person.refresh_token
    assert (await Api(url, token=second["accessToken"])(VIEWER))["viewer"]["id"] == person.user_id
    third = await refresh(url, second["refreshToken"])  # the new token works

    assert await refresh_error(url, person.refresh_token) == "UNAUTHENTICATED"  # reuse
    assert await refresh_error(url, third["refreshToken"]) == "UNAUTHENTICATED"  # family revoked

    threats = await Threat.filter(organization_id=org_pk(org), type=ThreatType.CREDENTIAL_MISUSE)
    assert len(threats) == 1
    assert threats[0].evidence["userId"] == person.user_id

    # Another login of the same person is another family and lives on.
    assert (await refresh(url, other_session.refresh_token))["user"]["id"] == person.user_id


async def test_refresh_with_an_unknown_token_is_unauthenticated(url):
    assert await refresh_error(url, base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()) == "UNAUTHENTICATED"


# ---- logout


async def test_logout_ends_the_refresh_token(org, url):
    person = await org.member("MEMBER")
    assert (await person.api(LOGOUT, i={"refreshToken": person.refresh_token}))["logout"]["ok"] is True

    assert await refresh_error(url, person.refresh_token) == "UNAUTHENTICATED"
    # Only that session ended: signing in again works.
    assert (await (await login(url, person.email)).api(VIEWER))["viewer"]["id"] == person.user_id


async def test_logout_ends_the_access_token(org):
    person = await org.member("MEMBER")
    assert (await person.api(VIEWER))["viewer"]["id"] == person.user_id
    await person.api(LOGOUT, i={"refreshToken": person.refresh_token})
    assert await person.api.error(VIEWER) == "UNAUTHENTICATED"


# ---- users and roles


async def test_viewer_returns_the_caller(org):
    manager = await org.member("MANAGER")
    assert (await manager.api(VIEWER))["viewer"] == {
        "id": manager.user_id,
        "email": manager.email,
        "role": "MANAGER",
        "organization": {"id": org.id},
    }
    assert (await org.admin.api(VIEWER))["viewer"]["id"] == org.admin.user_id


async def test_viewer_needs_a_credential(anonymous):
    assert await anonymous.error(VIEWER) == "UNAUTHENTICATED"


async def test_invite_user_adds_a_person_to_the_admins_organization(org, url):
    email = unique_email("invited")
    user = (await org.admin.api(INVITE, i={"email": email, "name": "Invited", "role": "MEMBER", "password": PASSWORD}))[
        "inviteUser"
    ]["user"]
    assert (user["email"], user["role"], user["organization"]["id"]) == (email, "MEMBER", org.id)
    assert (await (await login(url, email)).api(VIEWER))["viewer"]["role"] == "MEMBER"

    again = {"email": email.upper(), "name": "Again", "role": "MEMBER", "password": PASSWORD}
    assert await org.admin.api.error(INVITE, i=again) == "CONFLICT"


async def test_only_an_admin_may_invite_or_change_roles(org):
    manager = await org.member("MANAGER")
    invite = {"email": unique_email("nope"), "name": "Nope", "role": "ADMIN", "password": PASSWORD}
    assert await manager.api.error(INVITE, i=invite) == "FORBIDDEN"
    assert not await User.exists(email=invite["email"])
    assert await manager.api.error(UPDATE_ROLE, i={"userId": manager.user_id, "role": "ADMIN"}) == "FORBIDDEN"
    assert (await manager.api(VIEWER))["viewer"]["role"] == "MANAGER"


async def test_a_demotion_applies_to_the_next_request_with_the_same_token(org):
    manager = await org.member("MANAGER")
    agent = await create_agent(org.admin.api)
    await manager.api(GRANT, i={"agentId": agent.id, "capability": "db:read"})

    demoted = await org.admin.api(UPDATE_ROLE, i={"userId": manager.user_id, "role": "VIEWER"})
    assert demoted["updateUserRole"]["user"] == {"id": manager.user_id, "role": "VIEWER"}

    assert (await manager.api(VIEWER))["viewer"]["role"] == "VIEWER"
    assert await manager.api.error(GRANT, i={"agentId": agent.id, "capability": "db:write"}) == "FORBIDDEN"


async def test_the_last_admin_cannot_be_demoted(org):
    assert await org.admin.api.error(UPDATE_ROLE, i={"userId": org.admin.user_id, "role": "MANAGER"}) == "CONFLICT"
    assert (await org.admin.api(VIEWER))["viewer"]["role"] == "ADMIN"

    second = await org.member("ADMIN")
    await second.api(UPDATE_ROLE, i={"userId": org.admin.user_id, "role": "MEMBER"})
    assert (await org.admin.api(VIEWER))["viewer"]["role"] == "MEMBER"
    assert await second.api.error(UPDATE_ROLE, i={"userId": second.user_id, "role": "VIEWER"}) == "CONFLICT"


async def test_roles_of_another_organization_cannot_be_changed(org, other_org):
    assert (
        await org.admin.api.error(UPDATE_ROLE, i={"userId": other_org.admin.user_id, "role": "VIEWER"}) == "NOT_FOUND"
    )
    assert (await other_org.admin.api(VIEWER))["viewer"]["role"] == "ADMIN"


# ---- the access token


async def fetch_jwks(server: str) -> dict:
    async with aiohttp.ClientSession() as session, session.get(f"{server}/.well-known/jwks.json") as response:
        assert response.status == 200
        return await response.json()


async def test_access_token_is_an_eddsa_jwt_verifiable_with_the_published_jwks(org, server, anonymous, settings):
    data = (await anonymous(LOGIN, i={"email": org.admin.email, "password": PASSWORD}))["login"]
    token = data["accessToken"]

    jwks = await fetch_jwks(server)
    assert all(k["kty"] == "OKP" and k["crv"] == "Ed25519" for k in jwks["keys"])
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    assert header["typ"] == "at+jwt"
    assert header["kid"] in {k["kid"] for k in jwks["keys"]}

    # PyJWKClient fetches with blocking I/O; off the loop, so the in-process server can answer.
    client = jwt.PyJWKClient(f"{server}/.well-known/jwks.json")
    signing_key = await asyncio.to_thread(client.get_signing_key_from_jwt, token)
    assert signing_key.key_id == header["kid"]
    claims = jwt.decode(
        token,
        signing_key,
        algorithms=["EdDSA"],
        audience="aim-api",
        issuer="aim",
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )

    assert claims["sub"] == org.admin.user_id
    assert claims["org"] == org.id
    assert claims["role"] == "ADMIN"
    assert isinstance(claims["jti"], str) and claims["jti"]
    assert claims["exp"] - claims["iat"] == data["expiresIn"] == settings.access_token_ttl
    assert abs(claims["iat"] - time.time()) < 60

    # The same check by hand, with the JWK from the set, must fail for any other audience.
    jwk = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == header["kid"]))
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, jwk, algorithms=["EdDSA"], audience="aim-agent", issuer="aim")


async def test_each_access_token_has_its_own_jti(org, anonymous):
    first = await login(anonymous.url, org.admin.email)
    second = await login(anonymous.url, org.admin.email)
    jti = [jwt.decode(p.api.token, options={"verify_signature": False})["jti"] for p in (first, second)]
    assert jti[0] != jti[1]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def good_claims(org, **changes) -> dict:
    now = int(time.time())
    claims = {
        "iss": "aim",
        "aud": "aim-api",
        "sub": org.admin.user_id,
        "iat": now,
        "exp": now + 600,
        "jti": secrets.token_urlsafe(16),
        "org": org.id,
        "role": "ADMIN",
        "sid": str(uuid.uuid4()),
        **changes,
    }
    return {k: v for k, v in claims.items() if v is not None}


def signed(claims: dict, key: Ed25519PrivateKey = SERVICE_KEY.private_key, **header) -> str:
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": SERVICE_KEY.kid, "typ": "at+jwt", **header})


def unsigned(header: dict, claims: dict, sign=lambda signing_input: b"") -> str:
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(sign(signing_input.encode()))}"


def hs256(secret: bytes):
    return lambda signing_input: hmac.new(secret, signing_input, hashlib.sha256).digest()


def flip_payload_char(token: str) -> str:
    head, payload, signature = token.split(".")
    i = len(payload) // 2
    return f"{head}.{payload[:i]}{'A' if payload[i] != 'A' else 'B'}{payload[i + 1 :]}.{signature}"


def swap_payload(token: str, claims: dict) -> str:
    head, _, signature = token.split(".")
    return f"{head}.{b64url(json.dumps(claims).encode())}.{signature}"


FORGERIES = {
    "alg-none": lambda org: unsigned({"alg": "none", "typ": "at+jwt", "kid": SERVICE_KEY.kid}, good_claims(org)),
    "alg-none-no-signature": lambda org: unsigned({"alg": "none", "typ": "at+jwt"}, good_claims(org))[:-1],
    "hs256-public-key-bytes": lambda org: unsigned(
        {"alg": "HS256", "typ": "at+jwt", "kid": SERVICE_KEY.kid}, good_claims(org), hs256(SERVICE_KEY.public_bytes)
    ),
    "hs256-jwk-x": lambda org: unsigned(
        {"alg": "HS256", "typ": "at+jwt", "kid": SERVICE_KEY.kid},
        good_claims(org),
        hs256(SERVICE_KEY.jwk["x"].encode()),
    ),
    "hs256-secret": lambda org: unsigned(
        {"alg": "HS256", "typ": "at+jwt", "kid": SERVICE_KEY.kid}, good_claims(org), hs256(TEST_SECRET.encode())
    ),
    "wrong-aud": lambda org: signed(good_claims(org, aud="aim-agent")),
    "wrong-iss": lambda org: signed(good_claims(org, iss="not-aim")),
    "expired": lambda org: signed(good_claims(org, iat=int(time.time()) - 7200, exp=int(time.time()) - 60)),
    "no-exp": lambda org: signed(good_claims(org, exp=None)),
    "no-sub": lambda org: signed(good_claims(org, sub=None)),
    # Signed with AIM's key, but not for the user's organization: its lookups see no such user.
    "no-org": lambda org: signed({k: v for k, v in good_claims(org).items() if k != "org"}),
    "other-org": lambda org: signed({**good_claims(org), "org": ids.encode("Organization", uuid.uuid4())}),
    "wrong-typ": lambda org: signed(good_claims(org), typ="JWT"),
    "unknown-kid": lambda org: signed(good_claims(org), kid="0123456789abcdef"),
    "other-ed25519-key": lambda org: signed(good_claims(org), Ed25519PrivateKey.generate()),
    "tampered-char": lambda org: flip_payload_char(signed(good_claims(org))),
    "tampered-claims": lambda org: swap_payload(signed(good_claims(org, role="VIEWER")), good_claims(org)),
}


async def test_a_properly_forged_token_is_accepted(org, url):
    """The control for the forgeries below: with the right key and claims the server accepts it."""
    assert (await Api(url, token=signed(good_claims(org)))(VIEWER))["viewer"]["id"] == org.admin.user_id


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
async def test_a_bad_access_token_is_unauthenticated(org, url, forge):
    assert await Api(url, token=forge(org)).error(VIEWER) == "UNAUTHENTICATED"


async def test_garbage_in_the_authorization_header_is_unauthenticated(url, org):
    assert await Api(url, token="not.a.jwt").error(VIEWER) == "UNAUTHENTICATED"
    assert await Api(url, token="x").error(VIEWER) == "UNAUTHENTICATED"
