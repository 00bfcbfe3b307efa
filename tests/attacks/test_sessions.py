"""Access tokens die with their session: each names its session (`sid`, the refresh family), and
ending the session (logout, or a reused refresh token) ends every token of it. Agent tokens honour
logout too. Access tokens are short-lived by default."""

from __future__ import annotations

import jwt

from aim_identity.config import Settings
from tests.support import Api, Org, create_agent, login, verify

REFRESH = """mutation($i: RefreshInput!) { refreshToken(input: $i) { accessToken refreshToken } }"""
VIEWER = "{ viewer { id } }"


async def test_logout_ends_every_access_token_of_the_session(org: Org, url: str):
    person = await org.member("VIEWER")
    renewed = (await Api(url)(REFRESH, i={"refreshToken": person.refresh_token}))["refreshToken"]
    first, second = person.api, Api(url, token=renewed["accessToken"])
    claims = [jwt.decode(api.token, options={"verify_signature": False}) for api in (first, second)]
    assert claims[0]["sid"] == claims[1]["sid"] and claims[0]["jti"] != claims[1]["jti"]

    await second("mutation { logout(input: {}) { ok } }")
    assert await first.error(VIEWER) == "UNAUTHENTICATED"  # the older token of the same session
    assert await second.error(VIEWER) == "UNAUTHENTICATED"
    assert await Api(url).error(REFRESH, i={"refreshToken": renewed["refreshToken"]}) == "UNAUTHENTICATED"


async def test_a_reused_refresh_token_ends_the_access_tokens_of_its_session(org: Org, url: str):
    person = await org.member("MEMBER")
    renewed = (await Api(url)(REFRESH, i={"refreshToken": person.refresh_token}))["refreshToken"]
    assert await Api(url).error(REFRESH, i={"refreshToken": person.refresh_token}) == "UNAUTHENTICATED"  # reuse
    assert await person.api.error(VIEWER) == "UNAUTHENTICATED"
    assert await Api(url, token=renewed["accessToken"]).error(VIEWER) == "UNAUTHENTICATED"


async def test_another_session_of_the_same_person_lives_on(org: Org, url: str):
    person = await org.member("VIEWER")
    other = await login(url, person.email)
    await person.api("mutation { logout(input: {}) { ok } }")
    assert (await other.api(VIEWER))["viewer"]["id"] == person.user_id


async def test_an_agent_token_honours_logout(org: Org, anonymous: Api):
    agent = await create_agent(org.admin.api)
    as_agent = anonymous.as_token((await verify(anonymous, agent))["agentToken"])
    query = "query($id: ID!) { agent(id: $id) { id } }"
    assert (await as_agent(query, id=agent.id))["agent"]["id"] == agent.id
    await as_agent("mutation { logout(input: {}) { ok } }")
    assert await as_agent.error(query, id=agent.id) == "UNAUTHENTICATED"


def test_access_tokens_are_short_lived_by_default():
    assert Settings.model_fields["access_token_ttl"].default == 900
