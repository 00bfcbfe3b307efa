from tests.support import create_agent, verify


async def test_register_create_and_verify_agent(org, anonymous):
    agent = await create_agent(org.admin.api, capabilities=["db:read"])
    result = await verify(anonymous, agent)
    assert result["verified"] is True
    assert result["agent"]["status"] == "VERIFIED"
    assert result["event"]["trustScoreAfter"] > result["event"]["trustScoreBefore"]
