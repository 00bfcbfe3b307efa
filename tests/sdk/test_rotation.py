"""`rotate_key()` follows PROTOCOL.md's rotation, after which the old key verifies nothing; killed at
any step, it leaves the agent a key that works, and the next `asecure()` settles which one."""

from __future__ import annotations

import asyncio
import base64
import signal
import sys
from pathlib import Path

import pytest

from aim_agent import asecure
from aim_agent.keys import public_key
from aim_identity import ids
from aim_identity.models import Threat, ThreatType
from tests.support import CHALLENGE, VERIFY_OUTCOME, Api, Org

REPO = Path(__file__).parents[2]
AGENT = "query($id: ID!) { agent(id: $id) { publicKey verificationEvents(first: 1) { totalCount } } }"


async def answer_with(url: str, agent_id: str, key) -> dict:
    caller = Api(url)
    challenge = (await caller(CHALLENGE, i={"agentId": agent_id}))["requestVerificationChallenge"]
    signature = base64.b64encode(key.sign(base64.b64decode(challenge["message"])).signature).decode()
    return (await caller(VERIFY_OUTCOME, i={"challengeId": challenge["id"], "signature": signature}))["verifyAgent"]


async def misuse(org: Org) -> int:
    organization = ids.decode(org.id, "Organization")
    return await Threat.filter(organization_id=organization, type=ThreatType.CREDENTIAL_MISUSE).count()


async def test_after_a_rotation_only_the_new_key_verifies(org: Org, api_key, store, server, url):
    async with await asecure("rotating", url=server, api_key=api_key, store=store) as identity:
        old = store.load(server, "rotating")
        assert old is not None
        new_public_key = await identity.rotate_key()
        assert identity.public_key == new_public_key != public_key(old.key)
        assert (await org.admin.api(AGENT, id=identity.agent_id))["agent"]["publicKey"] == new_public_key
        stored = store.load(server, "rotating")
        assert stored is not None and stored.pending is None and public_key(stored.key) == new_public_key
        assert (await identity.verify()).verified
        refused = await answer_with(url, identity.agent_id, old.key)
        assert not refused["verified"] and refused["failureReason"] in {"BAD_SIGNATURE", "KEY_REVOKED"}


@pytest.mark.parametrize("with_api_key", [True, False], ids=["read-with-api-key", "probed-by-challenge"])
@pytest.mark.parametrize("step", ["stored", "accepted"])
async def test_a_rotation_killed_midway_leaves_a_working_key(org: Org, api_key, store, server, step, with_api_key):
    name = f"crash-{step}-{with_api_key}"
    async with await asecure(name, url=server, api_key=api_key, store=store) as identity:
        before, agent_id = identity.public_key, identity.agent_id
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.sdk.rotation_crash", server, str(store.directory), name, step, cwd=REPO
    )
    assert await process.wait() == -signal.SIGKILL
    interrupted = store.load(server, name)
    assert interrupted is not None and interrupted.pending is not None  # both keys survived the kill
    held = (await org.admin.api(AGENT, id=agent_id))["agent"]["publicKey"]
    assert held == (public_key(interrupted.pending) if step == "accepted" else before)

    async with await asecure(name, url=server, api_key=api_key if with_api_key else None, store=store) as again:
        assert again.public_key == held
        settled = store.load(server, name)
        assert settled is not None and settled.pending is None and public_key(settled.key) == held
        assert (await again.verify()).verified
        assert (await again.rotate_key()) != held  # and the agent can rotate again
        assert (await again.verify()).verified
    assert await misuse(org) == 0  # no retired key was ever offered
