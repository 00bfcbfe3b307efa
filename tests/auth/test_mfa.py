"""TOTP MFA over the live API: setting it up (enableMfa, confirmMfa), signing in with it, recovery
codes, each code once, the brute-force guard, an organization that requires it, and turning it off."""

from __future__ import annotations

import time
import uuid

import pyotp
import pytest

from aim_identity import ids
from aim_identity.models import AuditLogEntry, MfaRecoveryCode, Threat, ThreatType, User
from tests.support import LOGIN, PASSWORD, Api, GraphQLError, Org, Person, judged, login

ENABLE = "mutation { enableMfa { secret otpauthUri } }"
CONFIRM = """mutation($i: ConfirmMfaInput!) { confirmMfa(input: $i) { recoveryCodes user { id mfaEnabled } } }"""
DISABLE = """mutation($i: DisableMfaInput!) { disableMfa(input: $i) { user { mfaEnabled } } }"""
VIEWER = "query { viewer { id mfaEnabled } }"
ORGANIZATION = """mutation($i: UpdateOrganizationInput!) {
  updateOrganization(input: $i) { organization { requireMfa } } }"""
AGENTS = "query { agents(first: 1) { totalCount } }"


def code(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


async def failure(api: Api, query: str, **variables) -> tuple[str, str | None]:
    """The code and the reason of a call that must fail."""
    with pytest.raises(GraphQLError) as raised:
        await api(query, **variables)
    extensions = raised.value.errors[0].get("extensions") or {}
    return extensions.get("code"), extensions.get("reason")


async def with_mfa(person: Person) -> tuple[str, list[str]]:
    """Turns MFA on for `person`; its secret and recovery codes."""
    secret = (await person.api(ENABLE))["enableMfa"]["secret"]
    confirmed = (await person.api(CONFIRM, i={"totpCode": code(secret)}))["confirmMfa"]
    return secret, confirmed["recoveryCodes"]


def signing_in(url: str, email: str, totp: str | None = None) -> tuple[Api, dict]:
    return Api(url), {"i": {"email": email, "password": PASSWORD, "totpCode": totp}}


async def actions(user_id: str) -> list[str]:
    return await AuditLogEntry.filter(target_id=user_id).order_by("sequence").values_list("action", flat=True)


async def test_setting_mfa_up_shows_the_secret_once_and_keeps_it_sealed(org: Org):
    started = (await org.admin.api(ENABLE))["enableMfa"]
    secret = started["secret"]
    uri = pyotp.parse_uri(started["otpauthUri"])
    assert (uri.secret, uri.name, uri.issuer) == (secret, org.admin.email, "aim")
    # Not on until a code made from the secret comes back; the secret is stored sealed, never as itself.
    assert (await org.admin.api(VIEWER))["viewer"]["mfaEnabled"] is False
    row = await User.get(id=ids.decode(org.admin.user_id, "User"))
    assert row.mfa_pending_secret and secret not in row.mfa_pending_secret and row.mfa_secret is None

    assert await failure(
        org.admin.api, CONFIRM, i={"totpCode": "000000" if code(secret) != "000000" else "111111"}
    ) == ("UNAUTHENTICATED", "MFA_INVALID")
    confirmed = (await org.admin.api(CONFIRM, i={"totpCode": code(secret)}))["confirmMfa"]
    assert confirmed["user"]["mfaEnabled"] is True
    codes = confirmed["recoveryCodes"]
    assert len(codes) == len(set(codes)) == 10
    stored = await MfaRecoveryCode.filter(user_id=row.id).values_list("code_hash", flat=True)
    assert len(stored) == 10 and not set(codes) & set(stored)
    assert (await org.admin.api(VIEWER))["viewer"]["mfaEnabled"] is True
    assert await org.admin.api.error(ENABLE) == "CONFLICT"
    assert {"auth.mfa_enroll", "auth.mfa_failed", "auth.mfa_enable"} <= set(await actions(org.admin.user_id))


async def test_a_user_with_mfa_signs_in_with_a_code_each_code_once(org: Org, url: str):
    person = await org.member("MEMBER")
    secret, _ = await with_mfa(person)

    api, variables = signing_in(url, person.email)
    assert await failure(api, LOGIN, **variables) == ("UNAUTHENTICATED", "MFA_REQUIRED")
    api, variables = signing_in(url, person.email, "12345" + str((int(code(secret)[-1]) + 5) % 10))
    assert await failure(api, LOGIN, **variables) == ("UNAUTHENTICATED", "MFA_INVALID")

    # The code of the next step is accepted within the allowed drift; the one before it is then spent.
    api, variables = signing_in(url, person.email, code(secret, steps_ahead=1))
    assert (await api(LOGIN, **variables))["login"]["user"]["id"] == person.user_id
    api, variables = signing_in(url, person.email, code(secret, steps_ahead=1))
    assert await failure(api, LOGIN, **variables) == ("UNAUTHENTICATED", "MFA_INVALID")
    api, variables = signing_in(url, person.email, code(secret))
    assert await failure(api, LOGIN, **variables) == ("UNAUTHENTICATED", "MFA_INVALID")

    logins = await AuditLogEntry.filter(target_id=person.user_id, action="auth.login").order_by("-sequence")
    assert logins[0].metadata["mfa"] == "totp"


async def test_a_recovery_code_signs_in_once(org: Org, url: str):
    person = await org.member("MANAGER")
    _, codes = await with_mfa(person)
    api, variables = signing_in(url, person.email, codes[3].upper())
    assert (await api(LOGIN, **variables))["login"]["user"]["id"] == person.user_id
    api, variables = signing_in(url, person.email, codes[3])
    assert await failure(api, LOGIN, **variables) == ("UNAUTHENTICATED", "MFA_INVALID")
    user_pk = ids.decode(person.user_id, "User")
    assert await MfaRecoveryCode.filter(user_id=user_pk, used_at__isnull=False).count() == 1
    logins = await AuditLogEntry.filter(target_id=person.user_id, action="auth.login").order_by("-sequence")
    assert logins[0].metadata["mfa"] == "recovery_code"


async def test_wrong_codes_count_towards_the_brute_force_guard(org: Org, url: str, settings):
    person = await org.member("VIEWER")
    secret, _ = await with_mfa(person)
    wrong = "0" * 6 if code(secret) != "0" * 6 and code(secret, 1) != "0" * 6 else "9" * 6
    for _ in range(settings.login_max_failures):
        api, variables = signing_in(url, person.email, wrong)
        assert await failure(api, LOGIN, **variables) == ("UNAUTHENTICATED", "MFA_INVALID")
    # Locked now, even with the right password and the right code.
    api, variables = signing_in(url, person.email, code(secret))
    assert await api.error(LOGIN, **variables) == "RATE_LIMITED"
    await judged(org)  # the BRUTE_FORCE rule reads the event stream
    threats = await Threat.filter(organization_id=ids.decode(org.id, "Organization"), type=ThreatType.BRUTE_FORCE)
    assert [t.evidence["email"] for t in threats] == [person.email]
    assert (await actions(person.user_id)).count("auth.mfa_failed") == settings.login_max_failures


async def test_an_organization_can_require_mfa_of_its_admins_and_managers(org: Org, url: str):
    manager, member = await org.member("MANAGER"), await org.member("MEMBER")
    # An administrator without MFA may not require it of others.
    assert await org.admin.api.error(ORGANIZATION, i={"requireMfa": True}) == "CONFLICT"
    await with_mfa(org.admin)
    assert (await org.admin.api(ORGANIZATION, i={"requireMfa": True}))["updateOrganization"]["organization"] == {
        "requireMfa": True
    }

    # The manager's session may only set MFA up (its token was issued before the change, and still is held).
    assert await failure(manager.api, AGENTS) == ("FORBIDDEN", "MFA_ENROLLMENT_REQUIRED")
    assert (await manager.api(VIEWER))["viewer"]["mfaEnabled"] is False
    again = await login(url, manager.email)
    assert await failure(again.api, AGENTS) == ("FORBIDDEN", "MFA_ENROLLMENT_REQUIRED")
    await with_mfa(again)
    assert (await again.api(AGENTS))["agents"]["totalCount"] >= 0
    # A member is not held to it.
    assert (await member.api(AGENTS))["agents"]["totalCount"] >= 0
    entries = await AuditLogEntry.filter(target_id=org.id, action="organization.update")
    assert [e.metadata for e in entries] == [{"requireMfa": True}]


async def test_mfa_turns_off_with_a_valid_code_unless_the_organization_requires_it(org: Org, url: str):
    person = await org.member("MEMBER")
    secret, _codes = await with_mfa(person)
    assert await failure(person.api, DISABLE, i={"totpCode": "abcd-efgh-jkmn-pqrs"}) == (
        "UNAUTHENTICATED",
        "MFA_INVALID",
    )
    # The code of this step went to confirmMfa: the next one is fresh.
    assert (await person.api(DISABLE, i={"totpCode": code(secret, 1)}))["disableMfa"]["user"]["mfaEnabled"] is False
    assert await MfaRecoveryCode.filter(user_id=ids.decode(person.user_id, "User")).count() == 0
    assert (await login(url, person.email)).user_id == person.user_id  # a password alone again

    await with_mfa(org.admin)
    await org.admin.api(ORGANIZATION, i={"requireMfa": True})
    admin_secret = (await User.get(id=ids.decode(org.admin.user_id, "User"))).mfa_secret
    assert await org.admin.api.error(DISABLE, i={"totpCode": str(uuid.uuid4())[:6]}) == "CONFLICT"
    assert (await User.get(id=ids.decode(org.admin.user_id, "User"))).mfa_secret == admin_secret


async def test_mfa_belongs_to_people_not_to_api_keys(org: Org, url: str):
    created = await org.admin.api("""mutation { createApiKey(input: {name: "ci", role: MEMBER}) { secret } }""")
    key = Api(url, api_key=created["createApiKey"]["secret"])
    assert await key.error(ENABLE) == "FORBIDDEN"
