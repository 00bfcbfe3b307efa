"""API keys over the live API: the secret shown once, only its hash stored, `X-API-Key`
authentication, revocation, and a key's role never outranking its creator (PROTOCOL.md, Tokens)."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from aim_identity import ids
from aim_identity.models import ApiKey
from tests.support import Api, create_agent

CREATE_KEY = """mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) {
  secret apiKey { id name prefix role createdAt lastUsedAt expiresAt revokedAt } } }"""
REVOKE_KEY = """mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { apiKey { id revokedAt } } }"""
API_KEYS = """{ apiKeys { id name prefix role lastUsedAt revokedAt } }"""
AGENT_COUNT = """{ agents { totalCount } }"""
CREATE_AGENT = """mutation($i: CreateAgentInput!) { createAgent(input: $i) { agent { id } } }"""
UPDATE_ROLE = """mutation($i: UpdateUserRoleInput!) { updateUserRole(input: $i) { user { id role } } }"""

KEY_FORMAT = re.compile(r"aim_live_[A-Za-z0-9_-]{43}")


async def create_key(api: Api, role: str, name: str | None = None, **extra) -> dict:
    return (await api(CREATE_KEY, i={"name": name or f"key-{uuid.uuid4().hex[:8]}", "role": role, **extra}))[
        "createApiKey"
    ]


def with_key(api: Api, secret: str) -> Api:
    return Api(api.url, api_key=secret)


def new_agent() -> dict:
    return {"name": f"agent-{uuid.uuid4().hex[:8]}"}


async def test_create_api_key_returns_the_secret_once_in_the_documented_format(org):
    created = await create_key(org.admin.api, "MEMBER", name="ci deploys")
    secret, key = created["secret"], created["apiKey"]
    assert KEY_FORMAT.fullmatch(secret), secret
    assert key["prefix"] == secret[:12]
    assert (key["name"], key["role"], key["lastUsedAt"], key["revokedAt"]) == ("ci deploys", "MEMBER", None, None)

    # Never again: the listing shows the prefix and nothing that could rebuild the key.
    listed = next(k for k in (await org.admin.api(API_KEYS))["apiKeys"] if k["id"] == key["id"])
    assert secret not in str(listed)
    assert listed["prefix"] == secret[:12]

    another = await create_key(org.admin.api, "MEMBER")
    assert another["secret"] != secret


async def test_only_the_sha256_of_the_key_is_stored(org):
    created = await create_key(org.admin.api, "VIEWER")
    secret = created["secret"]
    row = await ApiKey.get(id=ids.decode(created["apiKey"]["id"], "ApiKey"))
    assert row.key_hash == hashlib.sha256(secret.encode()).hexdigest()

    columns = (await ApiKey.filter(id=row.id).values())[0]
    hidden = secret[12:]  # everything the prefix does not show
    for column, value in columns.items():
        assert hidden not in str(value), f"{column} holds the secret"


async def test_a_key_cannot_outrank_its_creator(org):
    member = await org.member("MEMBER")
    for role in ("ADMIN", "MANAGER"):
        assert await member.api.error(CREATE_KEY, i={"name": "escalate", "role": role}) == "FORBIDDEN"
    assert (await create_key(member.api, "MEMBER"))["apiKey"]["role"] == "MEMBER"
    assert {k["role"] for k in (await member.api(API_KEYS))["apiKeys"]} == {"MEMBER"}

    viewer = await org.member("VIEWER")
    assert await viewer.api.error(CREATE_KEY, i={"name": "any", "role": "VIEWER"}) == "FORBIDDEN"


async def test_x_api_key_authenticates_and_records_its_last_use(org):
    await create_agent(org.admin.api)
    created = await create_key(org.admin.api, "VIEWER")
    caller = with_key(org.admin.api, created["secret"])

    assert (await caller(AGENT_COUNT))["agents"]["totalCount"] == 1

    listed = next(k for k in (await org.admin.api(API_KEYS))["apiKeys"] if k["id"] == created["apiKey"]["id"])
    assert listed["lastUsedAt"] is not None
    row = await ApiKey.get(id=ids.decode(created["apiKey"]["id"], "ApiKey"))
    assert row.last_used_at is not None


async def test_a_key_sees_only_its_own_organization(org, other_org):
    await create_agent(other_org.admin.api)
    await create_agent(other_org.admin.api)
    created = await create_key(org.admin.api, "ADMIN")
    assert (await with_key(org.admin.api, created["secret"])(AGENT_COUNT))["agents"]["totalCount"] == 0


async def test_a_revoked_key_is_refused_on_the_very_next_request(org):
    created = await create_key(org.admin.api, "MEMBER")
    caller = with_key(org.admin.api, created["secret"])
    assert (await caller(AGENT_COUNT))["agents"]["totalCount"] == 0

    revoked = (await org.admin.api(REVOKE_KEY, i={"id": created["apiKey"]["id"]}))["revokeApiKey"]["apiKey"]
    assert revoked["revokedAt"] is not None
    assert await caller.error(AGENT_COUNT) == "UNAUTHENTICATED"


async def test_a_bad_key_is_unauthenticated(org, url):
    real = (await create_key(org.admin.api, "ADMIN"))["secret"]
    near_miss = real[:12] + ("A" if real[12] != "A" else "B") + real[13:]  # same prefix, wrong key
    for bad in ("aim_live_" + secrets.token_urlsafe(32), near_miss, real + "x", real[:-1], "not-a-key"):
        assert await Api(url, api_key=bad).error(AGENT_COUNT) == "UNAUTHENTICATED", bad
    assert (await Api(url, api_key=real)(AGENT_COUNT))["agents"]["totalCount"] == 0


async def test_a_viewer_key_can_read_but_not_create_agents(org):
    caller = with_key(org.admin.api, (await create_key(org.admin.api, "VIEWER"))["secret"])
    assert (await caller(AGENT_COUNT))["agents"]["totalCount"] == 0
    assert await caller.error(CREATE_AGENT, i=new_agent()) == "FORBIDDEN"
    assert (await org.admin.api(AGENT_COUNT))["agents"]["totalCount"] == 0

    member_key = with_key(org.admin.api, (await create_key(org.admin.api, "MEMBER"))["secret"])
    await member_key(CREATE_AGENT, i=new_agent())
    assert (await org.admin.api(AGENT_COUNT))["agents"]["totalCount"] == 1


async def test_admins_list_every_key_and_others_only_their_own(org):
    member = await org.member("MEMBER")
    manager = await org.member("MANAGER")
    mine = {(await create_key(member.api, "MEMBER"))["apiKey"]["id"] for _ in range(2)}
    theirs = {(await create_key(manager.api, "MANAGER"))["apiKey"]["id"]}
    admins = {(await create_key(org.admin.api, "ADMIN"))["apiKey"]["id"]}

    assert {k["id"] for k in (await org.admin.api(API_KEYS))["apiKeys"]} == mine | theirs | admins
    assert {k["id"] for k in (await member.api(API_KEYS))["apiKeys"]} == mine
    assert {k["id"] for k in (await manager.api(API_KEYS))["apiKeys"]} == theirs


async def test_only_the_owner_or_an_admin_can_revoke_a_key(org, other_org):
    member = await org.member("MEMBER")
    other_member = await org.member("MEMBER")
    first = await create_key(member.api, "MEMBER")
    second = await create_key(member.api, "MEMBER")

    for outsider in (other_member.api, other_org.admin.api):
        assert await outsider.error(REVOKE_KEY, i={"id": first["apiKey"]["id"]}) == "NOT_FOUND"
    assert (await with_key(member.api, first["secret"])(AGENT_COUNT))["agents"]["totalCount"] == 0

    for revoker, key in ((member.api, first), (org.admin.api, second)):
        revoked = (await revoker(REVOKE_KEY, i={"id": key["apiKey"]["id"]}))["revokeApiKey"]["apiKey"]
        assert revoked["revokedAt"] is not None
        assert (await ApiKey.get(id=ids.decode(key["apiKey"]["id"], "ApiKey"))).revoked_at is not None


async def test_a_key_is_capped_at_its_creators_current_role(org):
    manager = await org.member("MANAGER")
    caller = with_key(manager.api, (await create_key(manager.api, "MANAGER"))["secret"])
    await caller(CREATE_AGENT, i=new_agent())

    await org.admin.api(UPDATE_ROLE, i={"userId": manager.user_id, "role": "VIEWER"})
    assert await caller.error(CREATE_AGENT, i=new_agent()) == "FORBIDDEN"
    assert (await caller(AGENT_COUNT))["agents"]["totalCount"] == 1

    # Promoted back, the key regains what it was made with, and no more.
    await org.admin.api(UPDATE_ROLE, i={"userId": manager.user_id, "role": "MANAGER"})
    await caller(CREATE_AGENT, i=new_agent())
    assert (await caller(AGENT_COUNT))["agents"]["totalCount"] == 2


async def test_a_key_cannot_create_keys(org):
    caller = with_key(org.admin.api, (await create_key(org.admin.api, "ADMIN"))["secret"])
    assert await caller.error(CREATE_KEY, i={"name": "child", "role": "VIEWER"}) == "FORBIDDEN"


async def test_an_expiry_must_lie_in_the_future(org):
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    assert (
        await org.admin.api.error(CREATE_KEY, i={"name": "stale", "role": "VIEWER", "expiresAt": past})
        == "BAD_USER_INPUT"
    )
    future = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    key = (await create_key(org.admin.api, "VIEWER", expiresAt=future.isoformat()))["apiKey"]
    assert datetime.fromisoformat(key["expiresAt"].replace("Z", "+00:00")) == future
