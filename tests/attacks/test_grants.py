"""A MEMBER cannot grant what it may not grant: capabilities at registration follow the same role
rule as grantCapability."""

from __future__ import annotations

import uuid

from aim_identity import ids
from aim_identity.models import Agent, CapabilityGrant
from tests.support import Api, Org

CREATE = "mutation($i: CreateAgentInput!) { createAgent(input: $i) { agent { id capabilities { name } } } }"
KEY = "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }"


async def test_a_member_cannot_register_an_agent_with_capabilities(org: Org, url: str):
    member = await org.member("MEMBER")
    name = f"escalation-{uuid.uuid4().hex[:8]}"
    assert await member.api.error(CREATE, i={"name": name, "capabilities": ["payment:*"]}) == "FORBIDDEN"
    assert not await Agent.exists(name=name)
    # The same through a MEMBER key made by an administrator.
    secret = (await org.admin.api(KEY, i={"name": "ci", "role": "MEMBER"}))["createApiKey"]["secret"]
    assert await Api(url, api_key=secret).error(CREATE, i={"name": name, "capabilities": ["db:*"]}) == "FORBIDDEN"
    assert not await Agent.exists(name=name)

    # Without capabilities a member still registers agents; a manager may grant at registration.
    created = (await member.api(CREATE, i={"name": name}))["createAgent"]["agent"]
    assert created["capabilities"] == []
    manager = await org.member("MANAGER")
    granted = (await manager.api(CREATE, i={"name": f"{name}-m", "capabilities": ["db:read"]}))["createAgent"]
    assert [c["name"] for c in granted["agent"]["capabilities"]] == ["db:read"]
    assert await CapabilityGrant.filter(agent_id=ids.decode(created["id"], "Agent")).count() == 0
