"""The smaller holes of the review, each shown closed: over-long strings, non-canonical IDs, API-key
failures behind one address, anonymous callers in the audit trail, one rating per person, and the
last administrator."""

from __future__ import annotations

import asyncio
import base64
import uuid

import pytest

from aim_identity import ids
from aim_identity.models import AgentFeedback, AuditLogEntry, Role, User
from tests.support import CHALLENGE, PASSWORD, Api, Org, create_agent, login

HUGE = "x" * 100_000
CREATE = "mutation($i: CreateAgentInput!) { createAgent(input: $i) { agent { id } } }"


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        (CREATE, {"name": HUGE}),
        (CREATE, {"name": "a", "description": HUGE}),
        (CREATE, {"name": "a", "capabilities": [HUGE]}),
        ("mutation($i: SetAgentStatusInput!) { suspendAgent(input: $i) { agent { id } } }", {"reason": HUGE}),
        ("mutation($i: RevokeCapabilityInput!) { revokeCapability(input: $i) { agent { id } } }", {"capability": HUGE}),
        ("mutation($i: GrantCapabilityInput!) { grantCapability(input: $i) { agent { id } } }", {"capability": HUGE}),
        (
            "mutation($i: AgentFeedbackInput!) { submitAgentFeedback(input: $i) { agent { id } } }",
            {"rating": 3, "comment": HUGE},
        ),
        (
            "mutation($i: RegisterMCPServerInput!) { registerMCPServer(input: $i) { mcpServer { id } } }",
            {"name": "s", "url": "https://x.example", "description": HUGE},
        ),
        (
            "mutation($i: ReportDetectedMCPServersInput!) { reportDetectedMCPServers(input: $i) { agent { id } } }",
            {"servers": [{"name": "s", "command": HUGE}]},
        ),
        (
            "mutation($i: ReportDetectedMCPServersInput!) { reportDetectedMCPServers(input: $i) { agent { id } } }",
            {"servers": [], "source": HUGE},
        ),
        ("mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }", {"name": HUGE, "role": "VIEWER"}),
        (
            "mutation($i: UpdateOrganizationInput!) { updateOrganization(input: $i) { organization { id } } }",
            {"name": HUGE},
        ),
    ],
    ids=[
        "agent-name",
        "description",
        "capability",
        "reason",
        "revoke-capability",
        "grant-capability",
        "comment",
        "mcp-description",
        "detected-command",
        "detected-source",
        "key-name",
        "organization-name",
    ],
)
async def test_an_over_long_string_is_refused_before_any_write(org: Org, document: str, variables: dict):
    agent = await create_agent(org.admin.api)
    target = {"id": agent.id} if "SetAgentStatusInput" in document else {}
    if "Capability" in document or "Feedback" in document or "Detected" in document:
        target = {"agentId": agent.id}
    before = await AuditLogEntry.filter(organization_id=ids.decode(org.id, "Organization")).count()
    assert await org.admin.api.error(document, i=variables | target) == "BAD_USER_INPUT"
    assert await AuditLogEntry.filter(organization_id=ids.decode(org.id, "Organization")).count() == before


async def test_over_long_client_headers_are_cut_and_the_write_still_audited(org: Org, url: str):
    api = Api(url, token=org.admin.api.token, ip="203.0.113.9" + "9" * 200)
    transport_headers = api.headers() | {"User-Agent": "agent/" + "u" * 5000}
    from gql import Client, gql
    from gql.transport.aiohttp import AIOHTTPTransport

    async with Client(transport=AIOHTTPTransport(url=url, headers=transport_headers)) as session:
        created = await session.execute(gql(CREATE), variable_values={"i": {"name": f"long-{uuid.uuid4().hex[:6]}"}})
    entry = await AuditLogEntry.get(action="agent.create", target_id=created["createAgent"]["agent"]["id"])
    assert entry.user_agent == ("agent/" + "u" * 5000)[:500]
    assert entry.ip_address == ("203.0.113.9" + "9" * 200)[:64]


@pytest.mark.parametrize("spelling", ["upper", "no-dashes"])
async def test_another_spelling_of_an_id_is_bad_user_input(org: Org, spelling: str):
    agent = await create_agent(org.admin.api)
    pk = str(ids.decode(agent.id, "Agent"))
    other = pk.upper() if spelling == "upper" else pk.replace("-", "")
    variant = base64.b64encode(f"Agent:{other}".encode()).decode()
    query = "query($id: ID!) { agent(id: $id) { id } }"
    assert await org.admin.api.error(query, id=variant) == "BAD_USER_INPUT"
    assert (await org.admin.api(query, id=agent.id))["agent"]["id"] == agent.id


async def test_wrong_api_keys_from_one_address_do_not_lock_out_a_valid_key_there(org: Org, url: str, settings):
    created = await org.admin.api("""mutation { createApiKey(input: {name: "nat", role: VIEWER}) { secret } }""")
    shared_ip = "198.51.100.77"
    for _ in range(settings.login_ip_max_failures + 5):
        wrong = Api(url, api_key="aim_live_" + uuid.uuid4().hex + uuid.uuid4().hex[:11], ip=shared_ip)
        assert await wrong.error("{ viewer { id } }") in ("UNAUTHENTICATED", "RATE_LIMITED")
    wrong = Api(url, api_key="aim_live_" + "w" * 43, ip=shared_ip)
    assert await wrong.error("{ viewer { id } }") == "RATE_LIMITED"  # the guessing address is slowed down
    valid = Api(url, api_key=created["createApiKey"]["secret"], ip=shared_ip)
    assert (await valid("{ viewer { id } }"))["viewer"]["id"] == org.admin.user_id


async def test_an_anonymous_caller_is_audited_as_anonymous(org: Org, anonymous: Api):
    agent = await create_agent(org.admin.api)
    issued = (await anonymous(CHALLENGE, i={"agentId": agent.id}))["requestVerificationChallenge"]
    verify = """mutation($i: VerifyAgentInput!) { verifyAgent(input: $i) { verified } }"""
    garbage = base64.b64encode(bytes(64)).decode()
    await anonymous(verify, i={"challengeId": issued["id"], "signature": garbage})
    entry = await AuditLogEntry.filter(action="agent.verify", target_id=agent.id).order_by("-sequence").first()
    assert (entry.actor_type, entry.actor_id) == ("anonymous", None)
    # A signature that proves the agent is audited as the agent.
    good = agent.sign(base64.b64decode(issued["message"]))
    await anonymous(verify, i={"challengeId": issued["id"], "signature": good})
    entry = await AuditLogEntry.filter(action="agent.verify", target_id=agent.id).order_by("-sequence").first()
    assert (entry.actor_type, entry.actor_id) == ("agent", agent.id)


async def test_a_person_rates_an_agent_once(org: Org):
    agent = await create_agent(org.admin.api)
    rate = "mutation($i: AgentFeedbackInput!) { submitAgentFeedback(input: $i) { agent { id } } }"
    for rating in (1, 1, 1, 5):
        await org.admin.api(rate, i={"agentId": agent.id, "rating": rating})
    ratings = await AgentFeedback.filter(agent_id=ids.decode(agent.id, "Agent")).values_list("rating", flat=True)
    assert ratings == [5]


async def test_two_administrators_demoting_each_other_at_once_leave_one(org: Org, url: str):
    second = await org.member("ADMIN")
    demote = "mutation($i: UpdateUserRoleInput!) { updateUserRole(input: $i) { user { role } } }"
    results = await asyncio.gather(
        org.admin.api(demote, i={"userId": second.user_id, "role": "VIEWER"}),
        second.api(demote, i={"userId": org.admin.user_id, "role": "VIEWER"}),
        return_exceptions=True,
    )
    admins = await User.filter(organization_id=ids.decode(org.id, "Organization"), role=Role.ADMIN).count()
    assert admins == 1, results
    assert sum(isinstance(r, Exception) for r in results) == 1
    # Whoever is left can still sign in and act.
    survivor = org.admin if await User.exists(id=ids.decode(org.admin.user_id, "User"), role=Role.ADMIN) else second
    assert (await (await login(url, survivor.email, PASSWORD)).api("{ users { totalCount } }"))["users"]
