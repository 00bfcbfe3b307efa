import time, base64
from tests.support import create_agent, verify, Api, GraphQLError, CHALLENGE, VERIFY
from aim_identity.models import TrustScoreRecord, Agent
from aim_identity import ids

async def test_explore(org, anonymous):
    bad = Api(org.url, token="garbage")
    try:
        print(await bad("{ viewer { id } }"))
    except Exception as e:
        print("ERR", type(e), getattr(e, "code", None), e)
    a = await create_agent(org.admin.api, capabilities=["db:read"])
    t0 = time.perf_counter()
    r = await verify(anonymous, a)
    print("verify took", time.perf_counter() - t0)
    for i in range(4):
        t0 = time.perf_counter(); await verify(anonymous, a); print("verify took", time.perf_counter() - t0)
    pts = await TrustScoreRecord.filter(agent_id=ids.decode(a.id, "Agent")).order_by("id").values("score", "reason")
    for p in pts: print(p)
    tok = Api(org.url, token=r["agentToken"])
    print(await tok("query($id: ID!){ agent(id: $id) { id name verificationEvents { totalCount } } }", id=a.id))
    await org.admin.api("mutation($i: SetAgentStatusInput!){ suspendAgent(input: $i){ agent { status } } }", i={"id": a.id})
    try:
        print(await tok("query($id: ID!){ agent(id: $id) { id } }", id=a.id))
    except Exception as e:
        print("ERR", type(e), getattr(e, "code", None), e)
