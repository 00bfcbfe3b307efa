"""`asecure()` / `secure()`: one line gives an agent an identity that AIM verifies, and the same line
finds it again afterwards; the private key stays on the agent's side."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from keyrings.alt.file import PlaintextKeyring
from nacl.signing import SigningKey

from aim_agent import (
    AIMError,
    AsyncIdentity,
    FileStore,
    KeyringStore,
    UnknownIdentity,
    VerificationFailed,
    asecure,
    secure,
)
from aim_agent.connection import Connection
from aim_agent.keys import StoredIdentity, public_key
from aim_agent.messages import UnexpectedChallenge
from tests.receivers import respond
from tests.sdk.conftest import database_text
from tests.support import Org

AGENT = """query($id: ID!) { agent(id: $id) { name status publicKey capabilities { name }
  verificationEvents(first: 50) { totalCount edges { node { result } } } } }"""
AGENTS = "query { agents(first: 50) { totalCount } }"
DELETE = "mutation($i: DeleteAgentInput!) { deleteAgent(input: $i) { deletedId } }"


def seed(key: SigningKey) -> str:
    return base64.b64encode(bytes(key)).decode()


async def test_one_line_registers_the_public_key_only_and_verifies(org: Org, api_key, store, server, settings):
    identity = await asecure("billing-agent", url=server, api_key=api_key, capabilities=["db:read"], store=store)
    async with identity:
        agent = (await org.admin.api(AGENT, id=identity.agent_id))["agent"]
        stored = store.load(server, "billing-agent")
        assert stored is not None and stored.agent_id == identity.agent_id
        assert agent["publicKey"] == identity.public_key == public_key(stored.key)
        assert agent["status"] == "VERIFIED"
        assert [c["name"] for c in agent["capabilities"]] == ["db:read"]
        assert [e["node"]["result"] for e in agent["verificationEvents"]["edges"]] == ["VERIFIED"]
        assert seed(stored.key) not in await database_text(settings)


async def test_the_same_line_again_finds_the_identity_and_registers_nothing(org: Org, api_key, store, server):
    first = await asecure("reused", url=server, api_key=api_key, store=store)
    await first.close()
    again = await asecure("reused", url=server, api_key=api_key, capabilities=["db:*"], store=store)
    await again.close()
    assert again.agent_id == first.agent_id and again.public_key == first.public_key
    assert (await org.admin.api(AGENTS))["agents"]["totalCount"] == 1
    agent = (await org.admin.api(AGENT, id=first.agent_id))["agent"]
    assert agent["verificationEvents"]["totalCount"] == 2
    assert agent["capabilities"] == []  # grants are a manager's to give, not the agent's to take
    # Without the API key too: a stored identity needs none.
    await (await asecure("reused", url=server, store=store)).close()


async def test_an_agent_aim_no_longer_knows_is_an_error_and_never_registered_again(org: Org, api_key, store, server):
    identity = await asecure("deleted", url=server, api_key=api_key, store=store)
    await identity.close()
    await org.admin.api(DELETE, i={"id": identity.agent_id})
    with pytest.raises(UnknownIdentity, match="no longer knows"):
        await asecure("deleted", url=server, api_key=api_key, store=store)
    assert (await org.admin.api(AGENTS))["agents"]["totalCount"] == 0


async def test_a_key_aim_no_longer_accepts_is_an_error_and_never_registered_again(org: Org, api_key, store, server):
    identity = await asecure("replaced", url=server, api_key=api_key, store=store)
    await identity.close()
    stored = store.load(server, "replaced")
    assert stored is not None
    store.save(replace(stored, key=SigningKey.generate()))  # a key AIM never saw
    with pytest.raises(UnknownIdentity, match="does not accept the key") as raised:
        await asecure("replaced", url=server, api_key=api_key, store=store)
    assert raised.value.code == "BAD_SIGNATURE"
    assert (await org.admin.api(AGENTS))["agents"]["totalCount"] == 1


async def test_a_registration_cut_short_is_finished_with_the_same_key(org: Org, api_key, store, server):
    """The key is stored before AIM hears of it; if the answer never arrived, the next call finds the
    agent AIM made with that key instead of registering a second one."""
    key = SigningKey.generate()
    store.save(StoredIdentity(server, "interrupted", "", key))
    create = "mutation($i: CreateAgentInput!) { createAgent(input: $i) { agent { id } } }"
    made = await org.admin.api(create, i={"name": "interrupted", "publicKey": public_key(key)})
    async with await asecure("interrupted", url=server, api_key=api_key, store=store) as identity:
        assert identity.agent_id == made["createAgent"]["agent"]["id"]
    assert (await org.admin.api(AGENTS))["agents"]["totalCount"] == 1


async def test_another_agents_name_is_not_taken_over(org: Org, api_key, store, server):
    create = "mutation($i: CreateAgentInput!) { createAgent(input: $i) { agent { id } } }"
    await org.admin.api(create, i={"name": "taken", "publicKey": public_key(SigningKey.generate())})
    with pytest.raises(AIMError) as raised:
        await asecure("taken", url=server, api_key=api_key, store=store)
    assert raised.value.code == "CONFLICT"
    store.save(StoredIdentity(server, "taken", "", SigningKey.generate()))  # cut short, with another key
    with pytest.raises(AIMError, match="a key this machine does not hold"):
        await asecure("taken", url=server, api_key=api_key, store=store)


async def test_registering_needs_an_api_key_and_verify_never_registers(server, api_key, store):
    with pytest.raises(AIMError) as raised:
        await asecure("keyless", url=server, store=store)
    assert raised.value.code == "UNAUTHENTICATED"
    with pytest.raises(UnknownIdentity, match="no identity is stored"):
        await asecure("keyless", url=server, api_key=api_key, store=store, register=False)
    assert store.load(server, "keyless") is None


async def test_the_os_keyring_holds_the_key_when_there_is_one(org: Org, api_key, server, tmp_path):
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring.cfg")
    async with await asecure("in-keyring", url=server, api_key=api_key, store=KeyringStore(backend)) as identity:
        stored = KeyringStore(backend).load(server, "in-keyring")
        assert stored is not None and public_key(stored.key) == identity.public_key


async def test_the_private_key_is_never_logged(api_key, store, server, caplog):
    caplog.set_level(logging.DEBUG)  # gql and httpx log every request and answer at DEBUG
    async with await asecure("quiet", url=server, api_key=api_key, capabilities=["db:read"], store=store) as agent:
        await agent.authorize("db:read", "invoices", {"amount": 12.5})
        await agent.rotate_key()
        await agent.verify()
        assert "quiet" in repr(agent)
    stored = store.load(server, "quiet")
    assert stored is not None
    assert any("verifyAgent" in r.getMessage() for r in caplog.records)  # the log was being written
    assert seed(stored.key) not in caplog.text
    assert seed(stored.key) not in repr(stored) and seed(stored.key) not in repr(agent)


async def test_the_verification_gives_the_trust_score_and_a_token_kept_until_it_nears_expiry(
    org: Org, api_key, store, server
):
    async with await asecure("scored", url=server, api_key=api_key, store=store) as identity:
        outcome = await identity.verify()
        assert outcome.verified and outcome.trust_score is not None and 0 < outcome.trust_score <= 1
        score = "query($id: ID!) { agent(id: $id) { trustScore { score } } }"
        current = (await org.admin.api(score, id=identity.agent_id))["agent"]["trustScore"]["score"]
        assert outcome.trust_score == round(current, 4)  # as the agent token carries it
        assert outcome.token_expires_at is not None and outcome.token_expires_at > datetime.now(UTC)
        token = await identity.token()
        assert token == outcome.token and await identity.token() == token
        events = (await org.admin.api(AGENT, id=identity.agent_id))["agent"]["verificationEvents"]["totalCount"]
        assert events == 2  # asecure's and verify's; token() asked for nothing
        assert identity._token is not None
        identity._token.expires_at = datetime.now(UTC) + timedelta(seconds=10)  # about to expire
        assert await identity.token() != token
        events = (await org.admin.api(AGENT, id=identity.agent_id))["agent"]["verificationEvents"]["totalCount"]
        assert events == 3


async def test_the_synchronous_face_works_from_plain_code(org: Org, api_key, store, server):
    def plain() -> tuple[str, float | None]:
        with secure("sync-agent", url=server, api_key=api_key, store=store) as identity:
            return identity.agent_id, identity.verify().trust_score

    agent_id, score = await asyncio.to_thread(plain)
    assert score is not None
    assert (await org.admin.api(AGENT, id=agent_id))["agent"]["name"] == "sync-agent"


def forged_challenge(message: bytes):
    """An answer to requestVerificationChallenge, as a server in the middle could forge it."""

    async def answer(receiver, reader, writer) -> None:
        await reader.readexactly(int(receiver.requests[-1]["content-length"]))
        challenge = {"id": "Y2g=", "message": base64.b64encode(message).decode(), "expiresAt": "2026-12-02T00:00:00Z"}
        body = json.dumps({"data": {"requestVerificationChallenge": challenge}}).encode()
        await respond(writer, "200 OK", body, "Content-Type: application/json")

    return answer


@pytest.mark.parametrize(
    "lines",
    [
        ["aim/agent-challenge/v1", "QWdlbnQ6c29tZW9uZS1lbHNl", "Y2g=", "bm9uY2U=", "2026-12-02T00:00:00Z"],
        ["aim/action/v1", "{agent}", "payments:send", "", "2026-12-02T00:00:00Z", "bm9uY2U=", "0" * 64],
        ["aim/key-rotation/v1", "{agent}", "bmV3LWtleQ=="],
    ],
    ids=["another-agent", "an-action", "a-key-rotation"],
)
async def test_the_sdk_signs_no_challenge_but_its_own(receivers, lines):
    stored = StoredIdentity("http://unused", "careful", "QWdlbnQ6Y2FyZWZ1bA==", SigningKey.generate())
    message = "\n".join(lines).replace("{agent}", stored.agent_id).encode()
    receiver = await receivers(forged_challenge(message))
    identity = AsyncIdentity(Connection(receiver.url), FileStore(Path("/nonexistent")), stored)
    with pytest.raises(UnexpectedChallenge):
        await identity.verify()
    await identity.close()
    assert len(receiver.requests) == 1  # the challenge was asked for, and nothing was signed back


async def test_a_suspended_agent_is_told_so_and_its_actions_are_denied(org: Org, api_key, store, server):
    async with await asecure("suspended", url=server, api_key=api_key, capabilities=["db:read"], store=store) as agent:
        suspend = "mutation($i: SetAgentStatusInput!) { suspendAgent(input: $i) { agent { status } } }"
        await org.admin.api(suspend, i={"id": agent.agent_id, "reason": "investigation"})
        with pytest.raises(VerificationFailed) as raised:
            await agent.verify()
        assert raised.value.reason == "AGENT_NOT_ACTIVE"
        assert not (await agent.authorize("db:read")).allowed
    with pytest.raises(VerificationFailed):
        await asecure("suspended", url=server, api_key=api_key, store=store)
