"""The SDK end to end against the live server, watched by a security team's separate `gql` client
over graphql-transport-ws: register, verify, an allowed action, a denied one whose threat reaches the
feed, a key rotation, and the old key refused."""

from __future__ import annotations

import asyncio

import pytest

from aim_agent import ActionDenied, secure
from tests.delivery.test_websocket import Feed
from tests.sdk.test_rotation import answer_with
from tests.support import Org

SECURITY = "subscription { securityEvents { kind severity threat { id type agent { id } } } }"


async def test_the_sdk_end_to_end(org: Org, api_key, store, server, url):
    async with Feed(url, SECURITY, Authorization=f"Bearer {org.admin.api.token}") as feed:
        identity = await asyncio.to_thread(
            secure, "e2e-agent", url=server, api_key=api_key, capabilities=["db:read"], store=store
        )
        try:
            outcome = await asyncio.to_thread(identity.verify)
            assert outcome.verified and outcome.trust_score is not None

            ran: list[str] = []

            @identity.perform_action(capability="db:read", resource="customers")
            def read() -> str:
                ran.append("read")
                return "3 rows"

            @identity.perform_action(capability="db:delete", resource="customers")
            def delete() -> str:
                ran.append("delete")
                return "deleted"

            assert await asyncio.to_thread(read) == "3 rows"
            with pytest.raises(ActionDenied) as raised:
                await asyncio.to_thread(delete)
            assert ran == ["read"]

            while True:
                event = (await feed.next(timeout=5))["securityEvents"]
                if event["kind"] == "threat.detected":
                    break
            assert event["threat"]["type"] == "CAPABILITY_VIOLATION"
            assert event["threat"]["id"] == raised.value.decision.threat_id
            assert event["threat"]["agent"]["id"] == identity.agent_id

            old = store.load(server, "e2e-agent")
            assert old is not None
            await asyncio.to_thread(identity.rotate_key)
            assert (await asyncio.to_thread(identity.verify)).verified
            refused = await answer_with(url, identity.agent_id, old.key)
            assert not refused["verified"]
        finally:
            await asyncio.to_thread(identity.close)
