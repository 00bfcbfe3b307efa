"""The User type holds every path to a user (node, createdBy, grantedBy, viewer) to one rule."""

from __future__ import annotations

from tests.support import Api, Org, create_agent, verify

CREATED_BY = """query($id: ID!) { agent(id: $id) { createdBy { id name role } capabilities { grantedBy { name } } } }"""
CREATED_BY_EMAIL = """query($id: ID!) { agent(id: $id) { createdBy { email } } }"""
NODE_USER = """query($id: ID!) { node(id: $id) { ... on User { name email } } }"""
NODE_NAME = """query($id: ID!) { node(id: $id) { ... on User { name } } }"""
VIEWER_EMAIL = "query { viewer { email } }"


async def test_an_email_is_shown_to_administrators_and_its_owner_alone(org: Org, anonymous: Api):
    agent = await create_agent(org.admin.api, capabilities=["db:read"])
    viewer = await org.member("VIEWER")

    # Everyone in the organization sees who made and granted what, by name.
    for person in (org.admin, viewer):
        shown = (await person.api(CREATED_BY, id=agent.id))["agent"]
        assert shown["createdBy"] == {"id": org.admin.user_id, "name": "Admin", "role": "ADMIN"}
        assert shown["capabilities"] == [{"grantedBy": {"name": "Admin"}}]
        assert (await person.api(NODE_NAME, id=org.admin.user_id))["node"] == {"name": "Admin"}

    # The address itself: the administrator sees it, on every path; the viewer on none.
    assert (await org.admin.api(CREATED_BY_EMAIL, id=agent.id))["agent"]["createdBy"]["email"] == org.admin.email
    assert (await org.admin.api(NODE_USER, id=viewer.user_id))["node"]["email"] == viewer.email
    assert await viewer.api.error(CREATED_BY_EMAIL, id=agent.id) == "FORBIDDEN"
    assert await viewer.api.error(NODE_USER, id=org.admin.user_id) == "FORBIDDEN"
    # Its own address, each person sees.
    assert (await viewer.api(VIEWER_EMAIL))["viewer"]["email"] == viewer.email
    assert (await viewer.api(NODE_USER, id=viewer.user_id))["node"]["email"] == viewer.email


async def test_an_agent_token_sees_no_one(org: Org, anonymous: Api):
    agent = await create_agent(org.admin.api, capabilities=["db:read"])
    token = (await verify(anonymous, agent))["agentToken"]
    as_agent = anonymous.as_token(token)
    shown = (await as_agent(CREATED_BY, id=agent.id))["agent"]
    assert shown == {"createdBy": None, "capabilities": [{"grantedBy": None}]}
    assert (await as_agent(NODE_NAME, id=org.admin.user_id))["node"] is None
