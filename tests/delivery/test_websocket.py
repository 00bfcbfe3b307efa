"""Subscriptions over the real graphql-transport-ws protocol: gql for the happy paths, raw
websockets where the protocol itself is under test."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
import websockets
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from aim_identity.auth import tokens
from aim_identity.auth.keyring import Keyring
from aim_identity.models import OutboxEvent
from tests.conftest import TEST_SECRET
from tests.support import create_agent, verify

AGENT_EVENTS = "subscription($id: ID) { agentEvents(agentId: $id) { kind agentId agent { name status } } }"
TRUST = "subscription { trustScoreChanges { agent { id } previous current reason } }"
AUDIT = "subscription { auditLogAppended { sequence action hash previousHash } }"
SECURITY = (
    "subscription($s: Severity) { securityEvents(minSeverity: $s) { kind severity threat { type } agent { id } } }"
)


def audited(entries: list[dict]) -> list[dict]:
    """What an audit feed heard, but for the starts of subscriptions (its own among them: every start
    is audited, and the feed may hear its own)."""
    return [e["auditLogAppended"] for e in entries if e["auditLogAppended"]["action"] != "subscription.start"]


def ws_url(url: str) -> str:
    return url.replace("http://", "ws://")


def transport(url: str, **auth: str) -> WebsocketsTransport:
    return WebsocketsTransport(
        url=ws_url(url), subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL], init_payload=auth
    )


async def relayed_so_far() -> None:
    """Until the relay (in this process) has published every event committed so far, so that what the
    test did before subscribing is not heard as if it happened after."""
    deadline = time.monotonic() + 5
    while await OutboxEvent.filter(published_at=None).exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


class Feed:
    """A running subscription whose results collect in a queue."""

    def __init__(self, url: str, query: str, variables: dict | None = None, **auth: str) -> None:
        self.client = Client(transport=transport(url, **auth))
        self.query, self.variables = gql(query), variables
        self.queue: asyncio.Queue = asyncio.Queue()
        self.finished = asyncio.Event()
        self.error: Exception | None = None

    async def __aenter__(self) -> Feed:
        await relayed_so_far()
        self.session = await self.client.connect_async()
        self.task = asyncio.create_task(self._run())
        await asyncio.sleep(0.3)  # the subscription is registered before the test acts
        return self

    async def _run(self) -> None:
        try:
            async for result in self.session.subscribe(self.query, variable_values=self.variables):
                await self.queue.put(result)
        except Exception as exc:
            self.error = exc
        finally:
            self.finished.set()

    async def next(self, timeout: float = 2.0) -> dict:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def quiet(self, seconds: float = 0.7) -> list:
        await asyncio.sleep(seconds)
        items = []
        while not self.queue.empty():
            items.append(self.queue.get_nowait())
        return items

    async def __aexit__(self, *exc) -> None:
        self.task.cancel()
        await self.client.close_async()


async def test_agent_event_arrives_within_a_second(org, url):
    async with Feed(url, AGENT_EVENTS, Authorization=f"Bearer {org.admin.api.token}") as feed:
        started = time.monotonic()
        agent = await create_agent(org.admin.api, name="watched")
        event = await feed.next(timeout=1.0)
        assert time.monotonic() - started < 1.0
        assert event["agentEvents"] == {
            "kind": "agent.created",
            "agentId": agent.id,
            "agent": {"name": "watched", "status": "PENDING"},
        }


async def test_agent_events_filter_by_agent(org, url, anonymous):
    first = await create_agent(org.admin.api)
    second = await create_agent(org.admin.api)
    async with Feed(url, AGENT_EVENTS, {"id": second.id}, Authorization=f"Bearer {org.admin.api.token}") as feed:
        await verify(anonymous, first)
        await verify(anonymous, second)
        kinds = [e["agentEvents"] for e in await feed.quiet()]
        assert kinds and {k["agentId"] for k in kinds} == {second.id}
        assert "agent.verified" in {k["kind"] for k in kinds}


async def test_trust_changes_and_audit_entries_stream(org, url, anonymous):
    agent = await create_agent(org.admin.api)
    async with (
        Feed(url, TRUST, Authorization=f"Bearer {org.admin.api.token}") as trust_feed,
        Feed(url, AUDIT, Authorization=f"Bearer {org.admin.api.token}") as audit_feed,
    ):
        await verify(anonymous, agent)
        change = (await trust_feed.next())["trustScoreChanges"]
        assert change["agent"]["id"] == agent.id
        assert change["current"] > change["previous"]
        assert change["reason"] == "verification succeeded"
        entries = audited(await audit_feed.quiet())
        assert [e["action"] for e in entries] == ["agent.verify"]
        assert len(entries[0]["hash"]) == 64 and entries[0]["previousHash"] != entries[0]["hash"]


async def test_security_events_honour_min_severity(org, url, anonymous):
    agent = await create_agent(org.admin.api)
    auth = {"Authorization": f"Bearer {org.admin.api.token}"}
    async with (
        Feed(url, SECURITY, {"s": "INFO"}, **auth) as everything,
        Feed(url, SECURITY, {"s": "HIGH"}, **auth) as serious,
    ):
        challenge = await anonymous(
            """mutation($i: RequestChallengeInput!) {
            requestVerificationChallenge(input: $i) { id message } }""",
            i={"agentId": agent.id},
        )
        challenge = challenge["requestVerificationChallenge"]
        import base64

        signature = agent.sign(base64.b64decode(challenge["message"]))
        answer = """mutation($i: VerifyAgentInput!) { verifyAgent(input: $i) { verified failureReason } }"""
        await anonymous(answer, i={"challengeId": challenge["id"], "signature": signature})
        replay = await anonymous(answer, i={"challengeId": challenge["id"], "signature": signature})
        assert replay["verifyAgent"]["failureReason"] == "CHALLENGE_ALREADY_USED"
        low = [e["securityEvents"] for e in await everything.quiet()]
        high = [e["securityEvents"] for e in await serious.quiet(0.1)]
        # The default policy suspends on a replay.
        assert {e["kind"] for e in low} == {"agent.verification_failed", "threat.detected", "agent.suspended"}
        assert [(e["kind"], e["threat"]["type"], e["agent"]["id"]) for e in high] == [
            ("threat.detected", "CREDENTIAL_MISUSE", agent.id)
        ]


async def test_organizations_never_see_each_others_events(org, other_org, url):
    async with (
        Feed(url, AGENT_EVENTS, Authorization=f"Bearer {org.admin.api.token}") as mine,
        Feed(url, AGENT_EVENTS, Authorization=f"Bearer {other_org.admin.api.token}") as theirs,
        Feed(url, AUDIT, Authorization=f"Bearer {other_org.admin.api.token}") as their_audit,
    ):
        ours = [await create_agent(org.admin.api) for _ in range(3)]
        their_agent = await create_agent(other_org.admin.api)
        assert {e["agentEvents"]["agentId"] for e in await mine.quiet()} == {a.id for a in ours}
        assert {e["agentEvents"]["agentId"] for e in await theirs.quiet(0.1)} == {their_agent.id}
        assert {e["action"] for e in audited(await their_audit.quiet(0.1))} == {"agent.create"}


async def test_api_key_authenticates_a_subscription(org, url):
    created = await org.admin.api("""mutation { createApiKey(input: {name: "feed", role: VIEWER}) { secret } }""")
    async with Feed(url, AGENT_EVENTS, **{"X-API-Key": created["createApiKey"]["secret"]}) as feed:
        agent = await create_agent(org.admin.api)
        assert (await feed.next())["agentEvents"]["agentId"] == agent.id


async def test_a_role_that_may_not_subscribe_gets_an_error(org, url):
    viewer = await org.member("VIEWER")
    client = Client(transport=transport(url, Authorization=f"Bearer {viewer.api.token}"))
    async with client as session:
        with pytest.raises(TransportQueryError) as raised:
            async for _ in session.subscribe(gql(AUDIT)):
                pass
    assert raised.value.errors[0]["extensions"]["code"] == "FORBIDDEN"


async def _raw(url: str, init: dict | None = None):
    socket = await websockets.connect(ws_url(url), subprotocols=["graphql-transport-ws"])
    if init is not None:
        await socket.send(json.dumps({"type": "connection_init", "payload": init}))
        ack = json.loads(await asyncio.wait_for(socket.recv(), 2))
        assert ack["type"] == "connection_ack"
    return socket


async def _closed_with(socket) -> int:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        for _ in range(5):
            await asyncio.wait_for(socket.recv(), 5)
    return closed.value.rcvd.code


@pytest.mark.parametrize("payload", [{}, {"Authorization": "Bearer not-a-token"}, {"X-API-Key": "aim_live_nope"}])
async def test_missing_or_bad_credentials_close_the_socket_with_4403(url, payload):
    socket = await websockets.connect(ws_url(url), subprotocols=["graphql-transport-ws"])
    await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
    assert await _closed_with(socket) == 4403


async def test_a_client_that_never_initialises_is_closed(url):
    socket = await websockets.connect(ws_url(url), subprotocols=["graphql-transport-ws"])
    assert await _closed_with(socket) == 4408


async def test_ping_pong_and_complete(org, url):
    socket = await _raw(url, {"Authorization": f"Bearer {org.admin.api.token}"})
    await socket.send(json.dumps({"type": "ping"}))
    assert json.loads(await asyncio.wait_for(socket.recv(), 2)) == {"type": "pong"}
    await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": AGENT_EVENTS}}))
    await asyncio.sleep(0.2)
    await create_agent(org.admin.api)
    assert json.loads(await asyncio.wait_for(socket.recv(), 2))["type"] == "next"
    with pytest.raises(TimeoutError):  # drain the same mutation's other event (agent.trust_changed)
        while True:
            assert json.loads(await asyncio.wait_for(socket.recv(), 0.5))["type"] == "next"
    await socket.send(json.dumps({"id": "1", "type": "complete"}))
    await asyncio.sleep(0.2)
    await create_agent(org.admin.api)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(socket.recv(), 0.7)  # completed: nothing more arrives
    await socket.close()


@pytest.mark.parametrize(
    "query, operation_name",
    [
        ("subscription { noSuchField }", None),
        ("subscription {", None),
        ("{ viewer { id } }", None),
        (AGENT_EVENTS, "Unknown"),
    ],
)
async def test_bad_operations_get_an_error_and_the_socket_stays_open(org, url, query, operation_name):
    socket = await _raw(url, {"Authorization": f"Bearer {org.admin.api.token}"})
    payload = {"query": query} | ({"operationName": operation_name} if operation_name else {})
    await socket.send(json.dumps({"id": "bad", "type": "subscribe", "payload": payload}))
    reply = json.loads(await asyncio.wait_for(socket.recv(), 2))
    assert reply["type"] == "error" and reply["id"] == "bad"
    await socket.send(json.dumps({"type": "ping"}))
    assert json.loads(await asyncio.wait_for(socket.recv(), 2)) == {"type": "pong"}
    await socket.close()


async def test_subscriptions_per_connection_are_capped(org, url, settings):
    socket = await _raw(url, {"Authorization": f"Bearer {org.admin.api.token}"})
    for n in range(settings.ws_max_subscriptions):
        await socket.send(json.dumps({"id": str(n), "type": "subscribe", "payload": {"query": AGENT_EVENTS}}))
    await socket.send(json.dumps({"id": "over", "type": "subscribe", "payload": {"query": AGENT_EVENTS}}))
    reply = json.loads(await asyncio.wait_for(socket.recv(), 2))
    assert reply["id"] == "over" and reply["type"] == "error"
    await socket.close()


async def test_connections_per_principal_are_capped(org, url, settings):
    auth = {"Authorization": f"Bearer {org.admin.api.token}"}
    open_sockets = [await _raw(url, auth) for _ in range(settings.ws_max_connections_per_principal)]
    extra = await websockets.connect(ws_url(url), subprotocols=["graphql-transport-ws"])
    await extra.send(json.dumps({"type": "connection_init", "payload": auth}))
    assert await _closed_with(extra) == 4403
    await open_sockets.pop().close()
    await asyncio.sleep(0.2)
    for socket in [*open_sockets, await _raw(url, auth)]:  # a closed connection frees its place
        await socket.close()


async def test_subscription_ends_when_the_token_expires(org, url, settings):
    keyring = Keyring.derive(TEST_SECRET)
    short = tokens.issue(
        keyring,
        typ=tokens.ACCESS_TYP,
        audience=tokens.ACCESS_AUD,
        issuer=settings.issuer,
        subject=org.admin.user_id,
        ttl=2,
        claims={"org": org.id, "role": "ADMIN", "sid": str(uuid.uuid4())},
    )
    async with Feed(url, AGENT_EVENTS, Authorization=f"Bearer {short.token}") as feed:
        await asyncio.wait_for(feed.finished.wait(), 4)
        await create_agent(org.admin.api)
        assert feed.queue.empty()


async def test_subscription_ends_when_the_user_is_demoted(org, url):
    manager = await org.member("MANAGER")
    async with Feed(url, AUDIT, Authorization=f"Bearer {manager.api.token}") as feed:
        await create_agent(org.admin.api)
        assert [e["action"] for e in audited(await feed.quiet(0.5))] == ["agent.create"]
        await org.admin.api(
            """mutation($i: UpdateUserRoleInput!) { updateUserRole(input: $i) { user { role } } }""",
            i={"userId": manager.user_id, "role": "VIEWER"},
        )
        await asyncio.wait_for(feed.finished.wait(), 2)
        await create_agent(org.admin.api)
        assert audited(await feed.quiet(0.5)) == []  # nothing after the demotion


async def test_subscription_ends_when_the_api_key_is_revoked(org, url):
    created = (
        await org.admin.api("""mutation { createApiKey(input: {name: "k", role: VIEWER}) {
        secret apiKey { id } } }""")
    )["createApiKey"]
    async with Feed(url, AGENT_EVENTS, **{"X-API-Key": created["secret"]}) as feed:
        await org.admin.api(
            """mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { apiKey { revokedAt } } }""",
            i={"id": created["apiKey"]["id"]},
        )
        await asyncio.wait_for(feed.finished.wait(), 2)
        await create_agent(org.admin.api)
        assert feed.queue.empty()
