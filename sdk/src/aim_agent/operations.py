"""The contract's operations the SDK sends, each selecting only what it reads."""

from gql import gql

CREATE_AGENT = gql("""
mutation CreateAgent($input: CreateAgentInput!) {
  createAgent(input: $input) { agent { id name status } }
}""")

CHALLENGE = gql("""
mutation RequestChallenge($input: RequestChallengeInput!) {
  requestVerificationChallenge(input: $input) { id message expiresAt }
}""")

# What an answer sent with no credential may read, verified or not (AIM withholds the rest of a failed
# one); the trust score is in the agent token.
VERIFY = gql("""
mutation Verify($input: VerifyAgentInput!) {
  verifyAgent(input: $input) { verified failureReason agentToken agentTokenExpiresAt agent { id status } event { id } }
}""")

AUTHORIZE = gql("""
mutation Authorize($input: AuthorizeActionInput!) {
  authorizeAction(input: $input) { id allowed reason riskLevel threat { id type } }
}""")

REPORT_RESULT = gql("""
mutation ReportResult($input: ReportActionResultInput!) { reportActionResult(input: $input) { ok } }""")

ROTATE_KEY = gql("""
mutation RotateKey($input: RotateAgentKeyInput!) { rotateAgentKey(input: $input) { agent { id keyFingerprint } } }""")

AGENT = gql("""
query Agent($id: ID!) {
  agent(id: $id) {
    id name status publicKey keyFingerprint lastVerifiedAt
    trustScore { score confidence factors { name value contribution explanation } }
    capabilities { name }
  }
}""")

REPORT_MCP = gql("""
mutation ReportMCP($input: ReportDetectedMCPServersInput!) {
  reportDetectedMCPServers(input: $input) { registered { id name url } }
}""")

AGENTS_NAMED = gql("""
query AgentsNamed($search: String!) {
  agents(first: 50, filter: { search: $search }) { edges { node { id name publicKey } } }
}""")
