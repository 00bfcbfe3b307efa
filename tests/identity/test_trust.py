"""The trust score (ARCHITECTURE decision 4): `trust.compute` as a pure function of hand-built
evidence, then an agent's whole lifecycle through the live API, watching the score, its eight
explained factors, its confidence and its history move the way the evidence says they should."""

from __future__ import annotations

import dataclasses
import itertools
import math
from datetime import UTC, datetime, timedelta

import pytest
from nacl.signing import SigningKey

from aim_identity import ids
from aim_identity.auth.keyring import Keyring
from aim_identity.identity import challenges, scoring, trust
from aim_identity.models import ActionDecision, Agent, AgentStatus, Severity, TrustScoreRecord, VerificationEvent
from tests.conftest import TEST_SECRET
from tests.support import POLICY, VERIFY_OUTCOME, create_agent, verify

KEY = Keyring.derive(TEST_SECRET).challenge_key

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
NAMES = ["verification", "uptime", "successRate", "securityAlerts", "compliance", "age", "drift", "feedback"]
SEED_WEIGHTS = dict(zip(NAMES, [0.25, 0.15, 0.15, 0.15, 0.10, 0.10, 0.05, 0.05], strict=True))


def evidence(**changes) -> trust.Evidence:
    """A middling agent, a month old, with some of every kind of evidence, so each factor can move
    both ways from here."""
    base = trust.Evidence(
        now=NOW,
        status=AgentStatus.VERIFIED,
        created_at=NOW - timedelta(days=30),
        key_created_at=NOW - timedelta(days=10),
        key_rotation_days=90,
        verifications=[True, False, True, True],
        active_days=3,
        actions_succeeded=6,
        actions_failed=4,
        actions_allowed=8,
        actions_denied=2,
        open_threats=[Severity.LOW],
        grants=["db:read", "file:*"],
        mcp_declared=2,
        mcp_undeclared=1,
        ratings=[4, 3],
    )
    return dataclasses.replace(base, **changes)


NOTHING_YET = dict(
    status=AgentStatus.PENDING,
    created_at=NOW,
    key_created_at=NOW,
    verifications=[],
    active_days=0,
    actions_succeeded=0,
    actions_failed=0,
    actions_allowed=0,
    actions_denied=0,
    open_threats=[],
    grants=[],
    mcp_declared=0,
    mcp_undeclared=0,
    ratings=[],
)


def empty(**changes) -> trust.Evidence:
    """An agent registered this instant: nothing recorded yet."""
    return evidence(**{**NOTHING_YET, **changes})


def factor(e: trust.Evidence, name: str) -> trust.Factor:
    return {f.name: f for f in trust.compute(e).factors}[name]


def value(e: trust.Evidence, name: str) -> float:
    return factor(e, name).value


def values(e: trust.Evidence) -> dict[str, float]:
    return {f.name: f.value for f in trust.compute(e).factors}


def assert_only_moves(a: trust.Evidence, b: trust.Evidence, name: str) -> None:
    """Between a and b, factor `name` changed and no other factor did."""
    before, after = values(a), values(b)
    assert before[name] != pytest.approx(after[name]), f"{name} did not move"
    others = {k: v for k, v in before.items() if k != name}
    assert others == {k: v for k, v in after.items() if k != name}


# ---- the shape of the result


def test_the_weights_are_the_seeds_eight_and_sum_to_one():
    assert trust.WEIGHTS == SEED_WEIGHTS
    assert list(trust.WEIGHTS) == NAMES
    assert math.fsum(trust.WEIGHTS.values()) == pytest.approx(1.0, abs=1e-12)
    result = trust.compute(evidence())
    assert [f.name for f in result.factors] == NAMES
    assert {f.name: f.weight for f in result.factors} == SEED_WEIGHTS


EXAMPLES = {
    "middling": evidence(),
    "new": empty(),
    "perfect": evidence(
        verifications=[True] * 20,
        active_days=7,
        actions_succeeded=500,
        actions_failed=0,
        actions_denied=0,
        open_threats=[],
        grants=["db:read"],
        mcp_undeclared=0,
        ratings=[5] * 50,
        created_at=NOW - timedelta(days=400),
    ),
    "awful": evidence(
        status=AgentStatus.SUSPENDED,
        verifications=[False] * 20,
        active_days=0,
        actions_succeeded=0,
        actions_failed=500,
        actions_allowed=0,
        actions_denied=50,
        open_threats=[Severity.CRITICAL] * 3,
        grants=["*"],
        mcp_declared=0,
        mcp_undeclared=4,
        ratings=[1] * 50,
        key_created_at=NOW - timedelta(days=365),
    ),
}


@pytest.mark.parametrize("e", EXAMPLES.values(), ids=EXAMPLES.keys())
def test_contributions_sum_to_the_score(e):
    result = trust.compute(e)
    assert len(result.factors) == 8
    assert math.fsum(f.contribution for f in result.factors) == pytest.approx(result.score, abs=1e-12)
    for f in result.factors:
        assert 0.0 <= f.value <= 1.0, f
        assert 0.0 <= f.evidence <= 1.0, f
        assert f.contribution == pytest.approx(f.weight * f.value, abs=1e-15)
        assert f.explanation.strip(), f
        assert f.as_dict() == {
            "name": f.name,
            "weight": f.weight,
            "value": f.value,
            "contribution": f.contribution,
            "evidence": f.evidence,
            "explanation": f.explanation,
        }
    assert 0.0 <= result.score <= 1.0
    assert 0.0 <= result.confidence <= 1.0


def test_better_evidence_scores_higher():
    scores = {name: trust.compute(e).score for name, e in EXAMPLES.items()}
    assert scores["awful"] < scores["new"] < scores["middling"] < scores["perfect"]
    assert scores["awful"] < 0.05  # what is left is its month of age and the priors' floor
    assert scores["perfect"] > 0.95


def test_compute_is_pure():
    assert trust.compute(evidence()) == trust.compute(evidence())


# ---- each factor moves with its own evidence


def test_verification():
    assert value(evidence(verifications=[True] * 4), "verification") == 1.0
    assert value(evidence(verifications=[True, False, True, True]), "verification") == 0.75
    assert value(evidence(verifications=[False] * 4), "verification") == 0.0
    assert_only_moves(evidence(), evidence(verifications=[True, True, True, True]), "verification")

    never = factor(evidence(verifications=[]), "verification")
    assert (never.value, never.evidence, never.explanation) == (0.0, 0.0, "never answered a challenge")
    assert (
        factor(evidence(verifications=[True, False, True]), "verification").explanation
        == "2 of the last 3 challenge answers verified"
    )
    # Only the newest 20 answers count.
    assert value(evidence(verifications=[False] * 20 + [True] * 100), "verification") == 0.0
    assert (
        factor(evidence(verifications=[True] * 30), "verification").explanation
        == "20 of the last 20 challenge answers verified"
    )


@pytest.mark.parametrize("status", [AgentStatus.SUSPENDED, AgentStatus.REVOKED])
def test_an_inactive_agent_has_no_verification_trust(status):
    f = factor(evidence(status=status, verifications=[True] * 10), "verification")
    assert f.value == 0.0
    assert f.explanation == f"agent is {status.value.lower()}"
    assert f.evidence == 1.0  # the answers are still evidence; the status overrides them
    assert value(evidence(status=AgentStatus.PENDING, verifications=[True] * 10), "verification") == 1.0


def test_uptime():
    assert value(evidence(active_days=0), "uptime") == 0.0
    assert value(evidence(active_days=7), "uptime") == 1.0
    assert value(evidence(active_days=3), "uptime") == pytest.approx(3 / 7)
    assert value(evidence(active_days=30), "uptime") == 1.0  # never more than the window
    assert_only_moves(evidence(active_days=1), evidence(active_days=5), "uptime")
    assert factor(evidence(active_days=3), "uptime").explanation == "active on 3 of the last 7 day(s)"
    # A young agent is judged on the days it has existed.
    young = evidence(created_at=NOW - timedelta(days=1, hours=1), active_days=2)
    assert factor(young, "uptime").value == 1.0
    assert factor(young, "uptime").explanation == "active on 2 of the last 2 day(s)"


def test_success_rate():
    rates = [value(evidence(actions_succeeded=s, actions_failed=10 - s), "successRate") for s in range(11)]
    assert rates == sorted(rates) and len(set(rates)) == 11
    assert_only_moves(evidence(actions_succeeded=1), evidence(actions_succeeded=9), "successRate")
    # No reports is an even prior, not a perfect record.
    nothing = factor(evidence(actions_succeeded=0, actions_failed=0), "successRate")
    assert (nothing.value, nothing.evidence, nothing.explanation) == (0.5, 0.0, "no action results reported yet")
    assert (
        factor(evidence(actions_succeeded=6, actions_failed=4), "successRate").explanation
        == "6 of 10 reported actions succeeded in 30 days"
    )


def test_security_alerts_weigh_each_threat_by_severity():
    clean = factor(evidence(open_threats=[]), "securityAlerts")
    assert clean.value == 1.0
    assert clean.explanation == "no open threats in the last 30 days"
    ladder = [
        value(evidence(open_threats=[s]), "securityAlerts")
        for s in (Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)
    ]
    assert ladder == sorted(ladder, reverse=True)
    assert ladder[-1] == 0.0 and ladder[1] < 1.0
    assert len(set(ladder[1:])) == 4
    # More threats, less trust, never below zero.
    assert value(evidence(open_threats=[Severity.HIGH] * 2), "securityAlerts") < value(
        evidence(open_threats=[Severity.HIGH]), "securityAlerts"
    )
    assert value(evidence(open_threats=[Severity.CRITICAL] * 5), "securityAlerts") == 0.0
    assert_only_moves(evidence(open_threats=[]), evidence(open_threats=[Severity.MEDIUM]), "securityAlerts")
    text = factor(evidence(open_threats=[Severity.HIGH, Severity.LOW, Severity.HIGH]), "securityAlerts").explanation
    assert "3 open threat(s)" in text and "2 high" in text and "1 low" in text


def test_compliance_key_age_against_the_rotation_policy():
    def key_aged(days: float) -> float:
        return value(evidence(key_created_at=NOW - timedelta(days=days), grants=[], actions_denied=0), "compliance")

    assert key_aged(10) == key_aged(90) == 1.0
    assert 0.0 < key_aged(120) < 1.0
    assert key_aged(120) > key_aged(150)
    assert key_aged(180) == 0.0 and key_aged(400) == 0.0
    assert_only_moves(evidence(), evidence(key_created_at=NOW - timedelta(days=135)), "compliance")
    assert "rotation policy 90 days" in factor(evidence(), "compliance").explanation
    # The policy is a parameter, not a constant.
    stricter = evidence(key_created_at=NOW - timedelta(days=45), key_rotation_days=30)
    assert value(stricter, "compliance") < value(dataclasses.replace(stricter, key_rotation_days=90), "compliance")


def test_compliance_wildcard_grants():
    def granted(*grants: str) -> float:
        return value(evidence(grants=list(grants), actions_denied=0), "compliance")

    assert granted() == granted("db:read", "db:write") == 1.0
    assert granted("db:*") < granted("db:read")
    assert granted("db:*", "file:*") < granted("db:*")
    assert granted("*") == 0.5
    assert granted(*[f"x{i}:*" for i in range(10)]) == 0.5  # bounded, like the full wildcard
    assert_only_moves(evidence(grants=["db:read"]), evidence(grants=["db:*"]), "compliance")
    assert "2 wildcard grant(s)" in factor(evidence(grants=["db:*", "file:*"]), "compliance").explanation
    assert "no wildcard grants" in factor(evidence(grants=["db:read"]), "compliance").explanation


def test_compliance_denied_actions():
    def denied(n: int) -> float:
        return value(evidence(actions_allowed=10 - n, actions_denied=n, grants=[]), "compliance")

    assert denied(0) == 1.0
    assert denied(0) > denied(2) > denied(5) > denied(10) == 0.0
    assert_only_moves(evidence(actions_denied=0), evidence(actions_denied=5), "compliance")
    assert "2 of 10 requested actions were outside its grants" in factor(evidence(), "compliance").explanation


def test_age():
    def aged(days: float) -> trust.Factor:
        return factor(evidence(created_at=NOW - timedelta(days=days), key_created_at=NOW), "age")

    assert aged(0).value == 0.0
    assert aged(9).value == pytest.approx(0.1)
    assert aged(45).value == pytest.approx(0.5)
    assert aged(90).value == aged(1000).value == 1.0
    assert aged(1).value < aged(30).value < aged(60).value
    assert aged(45).explanation.startswith("registered 45.0 day(s) ago")


def test_drift_counts_undeclared_mcp_servers():
    assert value(evidence(mcp_declared=3, mcp_undeclared=0), "drift") == 1.0
    assert value(evidence(mcp_declared=3, mcp_undeclared=1), "drift") == 0.75
    assert value(evidence(mcp_declared=0, mcp_undeclared=2), "drift") == 0.0
    assert_only_moves(evidence(mcp_undeclared=0), evidence(mcp_undeclared=3), "drift")
    unseen = factor(evidence(mcp_declared=0, mcp_undeclared=0), "drift")
    assert (unseen.value, unseen.evidence, unseen.explanation) == (1.0, 0.0, "no MCP server connections observed")
    assert (
        factor(evidence(mcp_declared=2, mcp_undeclared=1), "drift").explanation
        == "1 of 3 MCP server(s) it talks to were never declared"
    )


def test_feedback():
    assert value(evidence(ratings=[]), "feedback") == 0.5
    assert value(evidence(ratings=[5] * 10), "feedback") > value(evidence(ratings=[5]), "feedback") > 0.5
    assert value(evidence(ratings=[1] * 10), "feedback") < value(evidence(ratings=[1]), "feedback") < 0.5
    ladder = [value(evidence(ratings=[r] * 3), "feedback") for r in range(1, 6)]
    assert ladder == sorted(ladder) and len(set(ladder)) == 5
    assert_only_moves(evidence(ratings=[2]), evidence(ratings=[5]), "feedback")
    assert factor(evidence(ratings=[]), "feedback").explanation == "no user feedback yet"
    assert factor(evidence(ratings=[4, 3]), "feedback").explanation == "average rating 3.5/5 from 2 review(s)"


# For each factor, two evidences that give it different values: no factor is a constant.
MOVERS = {
    "verification": ({"verifications": [False]}, {"verifications": [True]}),
    "uptime": ({"active_days": 0}, {"active_days": 7}),
    "successRate": ({"actions_failed": 20}, {"actions_succeeded": 20, "actions_failed": 0}),
    "securityAlerts": ({"open_threats": [Severity.HIGH]}, {"open_threats": []}),
    "compliance": ({"grants": ["*"]}, {"grants": []}),
    "age": ({"created_at": NOW - timedelta(days=2)}, {"created_at": NOW - timedelta(days=80)}),
    "drift": ({"mcp_undeclared": 5}, {"mcp_undeclared": 0}),
    "feedback": ({"ratings": [1, 1]}, {"ratings": [5, 5]}),
}


@pytest.mark.parametrize("name", NAMES)
def test_no_factor_is_constant(name):
    worse, better = MOVERS[name]
    low, high = value(evidence(**worse), name), value(evidence(**better), name)
    assert low < high
    assert trust.compute(evidence(**worse)).score < trust.compute(evidence(**better)).score


def test_confidence_rises_with_evidence():
    steps = [
        empty(),
        empty(verifications=[True]),
        empty(verifications=[True] * 5),
        empty(verifications=[True] * 5, actions_succeeded=10),
        empty(verifications=[True] * 5, actions_succeeded=20),
        empty(verifications=[True] * 5, actions_succeeded=20, ratings=[4, 5]),
        empty(verifications=[True] * 5, actions_succeeded=20, ratings=[4, 5], mcp_declared=1),
        empty(
            verifications=[True] * 5,
            actions_succeeded=20,
            ratings=[4, 5],
            mcp_declared=1,
            created_at=NOW - timedelta(days=3),
        ),
        empty(
            verifications=[True] * 5,
            actions_succeeded=20,
            ratings=[4, 5] * 3,
            mcp_declared=1,
            created_at=NOW - timedelta(days=40),
        ),
    ]
    confidences = [trust.compute(e).confidence for e in steps]
    assert all(a < b for a, b in itertools.pairwise(confidences)), confidences
    assert confidences[0] < 0.35
    assert confidences[-1] == pytest.approx(1.0)
    # Confidence counts evidence, not verdicts: bad evidence is as much evidence as good.
    assert (
        trust.compute(empty(verifications=[False] * 5)).confidence
        == trust.compute(empty(verifications=[True] * 5)).confidence
    )


def test_a_new_agent_is_not_given_trust_it_has_not_earned():
    result = trust.compute(empty())
    by_name = {f.name: f for f in result.factors}
    assert by_name["verification"].value == 0.0
    assert by_name["uptime"].value == 0.0
    assert by_name["age"].value == 0.0
    assert result.score < 0.5
    # The neutral priors are marked as having no evidence behind them.
    for name in ("verification", "successRate", "drift", "feedback"):
        assert by_name[name].evidence == 0.0, name


# ---- the lifecycle through the API

AGENT = """query($id: ID!) { agent(id: $id) { status
  trustScore { score confidence computedAt factors { name weight value contribution explanation } }
  trustHistory { score reason at } } }"""
SUSPEND = """mutation($i: SetAgentStatusInput!) { suspendAgent(input: $i) { agent { status } } }"""
REACTIVATE = """mutation($i: SetAgentStatusInput!) { reactivateAgent(input: $i) { agent { status } } }"""
FEEDBACK = """mutation($i: AgentFeedbackInput!) { submitAgentFeedback(input: $i) {
  agent { trustScore { score factors { name value explanation } } } } }"""


def check_shape(trust_score: dict) -> dict[str, dict]:
    """The contract's invariants, true at every stage; returns the factors by name."""
    factors = trust_score["factors"]
    assert [f["name"] for f in factors] == NAMES
    assert {f["name"]: f["weight"] for f in factors} == SEED_WEIGHTS
    assert math.fsum(f["contribution"] for f in factors) == pytest.approx(trust_score["score"], abs=1e-9)
    for f in factors:
        assert f["contribution"] == pytest.approx(f["weight"] * f["value"], abs=1e-12)
        assert 0.0 <= f["value"] <= 1.0
    assert 0.0 <= trust_score["score"] <= 1.0
    assert 0.0 <= trust_score["confidence"] <= 1.0
    return {f["name"]: f for f in factors}


async def test_the_score_follows_an_agents_lifecycle(org, anonymous):
    api = org.admin.api
    # Three failed answers would raise a threat, which is a factor of its own: not this test's subject.
    await api(
        POLICY, i={"threatType": "VERIFICATION_FAILURES", "minSeverity": "LOW", "action": "ALERT", "enabled": False}
    )
    agent = await create_agent(api)
    stages: dict[str, dict] = {}

    async def snapshot(stage: str) -> dict[str, dict]:
        stages[stage] = (await api(AGENT, id=agent.id))["agent"]
        return check_shape(stages[stage]["trustScore"])

    def score(stage: str) -> float:
        return stages[stage]["trustScore"]["score"]

    def confidence(stage: str) -> float:
        return stages[stage]["trustScore"]["confidence"]

    new = await snapshot("new")
    assert new["verification"]["explanation"] == "never answered a challenge"
    assert new["verification"]["value"] == 0.0
    assert new["uptime"]["explanation"] == "active on 0 of the last 1 day(s)"
    assert new["securityAlerts"]["explanation"] == "no open threats in the last 30 days"
    assert new["feedback"]["explanation"] == "no user feedback yet"
    assert stages["new"]["status"] == "PENDING"

    for _ in range(3):
        assert (await verify(anonymous, agent))["verified"] is True
    verified = await snapshot("verified")
    assert score("verified") > score("new")
    assert verified["verification"]["explanation"] == "3 of the last 3 challenge answers verified"
    assert verified["verification"]["value"] == 1.0
    assert verified["uptime"]["explanation"] == "active on 1 of the last 1 day(s)"
    assert verified["uptime"]["value"] > new["uptime"]["value"]
    assert confidence("verified") > confidence("new")

    # Answers that no key of the agent signed are not the agent's, and move nothing.
    intruder = SigningKey.generate()
    for _ in range(3):
        outcome = await verify(anonymous, agent, signer=intruder)
        assert (outcome["verified"], outcome["failureReason"]) == (False, "BAD_SIGNATURE")
    assert (await snapshot("attacked"))["verification"] == verified["verification"]
    # Its own late answers are.
    for _ in range(3):
        late = challenges.mint(KEY, ids.decode(agent.id, "Agent"), datetime.now(UTC) - timedelta(seconds=1))
        outcome = (
            await anonymous(VERIFY_OUTCOME, i={"challengeId": late.id, "signature": agent.sign(late.message(KEY))})
        )["verifyAgent"]
        assert (outcome["verified"], outcome["failureReason"]) == (False, "CHALLENGE_EXPIRED")
    failing = await snapshot("failing")
    assert score("failing") < score("verified")
    assert failing["verification"]["explanation"] == "3 of the last 6 challenge answers verified"
    assert failing["verification"]["value"] == 0.5
    assert confidence("failing") > confidence("verified")
    assert stages["failing"]["status"] == "VERIFIED"  # failed answers alone do not change the status

    await api(SUSPEND, i={"id": agent.id, "reason": "failing challenges"})
    suspended = await snapshot("suspended")
    assert score("suspended") < score("failing")
    assert suspended["verification"]["explanation"] == "agent is suspended"
    assert suspended["verification"]["value"] == 0.0

    await api(REACTIVATE, i={"id": agent.id})
    reactivated = await snapshot("reactivated")
    assert stages["reactivated"]["status"] == "VERIFIED"
    assert score("reactivated") > score("suspended")
    assert score("reactivated") == pytest.approx(score("failing"), abs=1e-6)
    assert reactivated["verification"]["explanation"] == "3 of the last 6 challenge answers verified"

    # Only the verification and uptime factors had evidence to move on; the rest held still.
    for name in ("successRate", "securityAlerts", "compliance", "drift", "feedback"):
        assert len({stages[s]["trustScore"]["factors"][NAMES.index(name)]["value"] for s in stages}) == 1, name

    # Each change is in the history, newest first, with its reason.
    history = stages["reactivated"]["trustHistory"]
    assert [p["reason"] for p in history] == [
        "agent reactivated",
        "agent suspended",
        "verification failed: CHALLENGE_EXPIRED",
        "verification failed: CHALLENGE_EXPIRED",
        "verification failed: CHALLENGE_EXPIRED",
        "verification succeeded",
        "agent registered",
    ]
    assert [p["at"] for p in history] == sorted((p["at"] for p in history), reverse=True)
    assert history[0]["score"] == pytest.approx(score("reactivated"), abs=1e-9)
    assert history[1]["score"] == pytest.approx(score("suspended"), abs=1e-9)
    assert history[2]["score"] == pytest.approx(score("failing"), abs=1e-9)
    assert history[5]["score"] == pytest.approx(score("verified"), abs=1e-6)
    assert history[6]["score"] == pytest.approx(score("new"), abs=1e-6)
    failures = [p["score"] for p in history[2:5]]
    assert failures == sorted(failures)  # each failure lowered the score further
    assert history[5]["score"] > history[4]["score"]


async def test_feedback_moves_the_feedback_factor(org):
    api = org.admin.api
    agent = await create_agent(api)
    raters = [await org.member("MEMBER"), await org.member("MANAGER")]
    start = check_shape((await api(AGENT, id=agent.id))["agent"]["trustScore"])
    assert start["feedback"]["value"] == 0.5

    praised = await api(FEEDBACK, i={"agentId": agent.id, "rating": 5, "comment": "great"})
    factors = {f["name"]: f for f in praised["submitAgentFeedback"]["agent"]["trustScore"]["factors"]}
    assert factors["feedback"]["value"] > 0.5
    assert factors["feedback"]["explanation"] == "average rating 5.0/5 from 1 review(s)"
    high = praised["submitAgentFeedback"]["agent"]["trustScore"]["score"]

    for rater in raters:
        await rater.api(FEEDBACK, i={"agentId": agent.id, "rating": 1})
    after = (await api(AGENT, id=agent.id))["agent"]
    factors = check_shape(after["trustScore"])
    assert factors["feedback"]["value"] < 0.5
    assert factors["feedback"]["explanation"] == "average rating 2.3/5 from 3 review(s)"
    assert after["trustScore"]["score"] < high
    assert [p["reason"] for p in after["trustHistory"]] == [
        "user feedback (1/5)",
        "user feedback (1/5)",
        "user feedback (5/5)",
        "agent registered",
    ]


async def test_trust_history_gives_each_agent_its_newest_points_first(org, other_org):
    """A long history (backdated points) is cut to `first` per agent, newest first, for every agent of
    a page; another organization's agents are not in the page."""
    agents = [await create_agent(org.admin.api) for _ in range(2)]
    foreign = await create_agent(other_org.admin.api)
    now = datetime.now(UTC)
    for agent in (*agents, foreign):
        await TrustScoreRecord.bulk_create(
            [
                TrustScoreRecord(
                    agent_id=ids.decode(agent.id, "Agent"),
                    score=hours / 100,
                    reason=f"{hours} h ago",
                    at=now - timedelta(hours=hours),
                )
                for hours in range(1, 60)
            ]
        )
    page = (
        await org.admin.api("""{ agents(first: 10) { edges { node {
        id newest: trustHistory(first: 3) { reason at } all: trustHistory(first: 500) { at } } } } }""")
    )["agents"]
    histories = {e["node"]["id"]: e["node"] for e in page["edges"]}
    assert set(histories) == {a.id for a in agents}
    for history in histories.values():
        assert [p["reason"] for p in history["newest"]] == ["agent registered", "1 h ago", "2 h ago"]
        assert len(history["all"]) == 60
        assert [p["at"] for p in history["all"]] == sorted((p["at"] for p in history["all"]), reverse=True)
    none = await org.admin.api("""{ agents(first: 1) { edges { node { trustHistory(first: 0) { at } } } } }""")
    assert none["agents"]["edges"][0]["node"]["trustHistory"] == []


async def test_feedback_ratings_are_one_to_five(org):
    agent = await create_agent(org.admin.api)
    for rating in (0, 6, -1):
        assert await org.admin.api.error(FEEDBACK, i={"agentId": agent.id, "rating": rating}) == "BAD_USER_INPUT"
    assert [p["reason"] for p in (await org.admin.api(AGENT, id=agent.id))["agent"]["trustHistory"]] == [
        "agent registered"
    ]


async def test_capability_grants_move_compliance(org):
    api = org.admin.api
    agent = await create_agent(api, capabilities=["db:read"])
    before = check_shape((await api(AGENT, id=agent.id))["agent"]["trustScore"])
    await api(
        """mutation($i: GrantCapabilityInput!) { grantCapability(input: $i) { agent { id } } }""",
        i={"agentId": agent.id, "capability": "*"},
    )
    after_agent = (await api(AGENT, id=agent.id))["agent"]
    after = check_shape(after_agent["trustScore"])
    assert after["compliance"]["value"] < before["compliance"]["value"]
    assert "1 wildcard grant(s)" in after["compliance"]["explanation"]
    assert after_agent["trustHistory"][0]["reason"] == "capability * granted"


async def test_a_silent_agent_loses_trust_as_its_evidence_ages(org, anonymous, settings):
    api = org.admin.api
    agent = await create_agent(api)
    assert (await verify(anonymous, agent))["verified"] is True
    before = (await api(AGENT, id=agent.id))["agent"]["trustScore"]
    assert check_shape(before)["uptime"]["value"] == 1.0
    # Ten silent days: everything the agent did, and the score itself, happened ten days ago.
    pk, ago = ids.decode(agent.id, "Agent"), datetime.now(UTC) - timedelta(days=10)
    await Agent.filter(id=pk).update(created_at=ago, key_created_at=ago, last_verified_at=ago, trust_computed_at=ago)
    await VerificationEvent.filter(agent_id=pk).update(created_at=ago)
    assert await scoring.rescore_stale(settings.key_rotation_days) >= 1
    after = (await api(AGENT, id=agent.id))["agent"]
    factors = check_shape(after["trustScore"])
    assert factors["uptime"]["value"] == 0.0
    assert factors["uptime"]["explanation"] == "active on 0 of the last 7 day(s)"
    assert after["trustScore"]["score"] < before["score"]
    assert after["trustScore"]["computedAt"] > before["computedAt"]
    assert after["trustHistory"][0]["reason"] == "evidence aged"


async def test_uptime_counts_each_active_day_of_the_last_week_once(org):
    """The evidence statement probes each day of the window: several answers on one day count once, a
    failed answer is no activity, an allowed action is, and a day before the window is gone."""
    agent = await Agent.get(id=ids.decode((await create_agent(org.admin.api)).id, "Agent"))
    now = datetime.now(UTC)
    await Agent.filter(id=agent.id).update(created_at=now - timedelta(days=20))
    agent = await Agent.get(id=agent.id)

    def at(days_ago: int, hour: int) -> datetime:
        return now.replace(hour=hour, minute=0, second=0, microsecond=0) - timedelta(days=days_ago)

    async def answered(when: datetime, result: str) -> None:
        row = await VerificationEvent.create(
            organization_id=agent.organization_id, agent=agent, result=result, trust_score_before=0, trust_score_after=0
        )
        await VerificationEvent.filter(id=row.id).update(created_at=when)

    for when in (at(1, 9), at(1, 15), at(3, 12), at(9, 12)):
        await answered(when, "VERIFIED")
    await answered(at(2, 12), "FAILED")
    action = await ActionDecision.create(
        organization_id=agent.organization_id,
        agent=agent,
        capability="db:read",
        allowed=True,
        reason="granted",
        risk_level=Severity.LOW,
    )
    await ActionDecision.filter(id=action.id).update(created_at=at(5, 12))

    assert (await scoring.gather(agent, 90, now)).active_days == 3  # days 1, 3 and 5 ago
    assert (await scoring.gather(agent, 90, now, answer=True)).active_days == 4  # and today
    assert (await scoring.gather(agent, 90, now, answer=False)).active_days == 3
    recent = (await scoring.gather(agent, 90, now, answer=False)).verifications
    assert recent[:3] == [False, True, True]  # the pending answer first, then newest to oldest


async def test_a_marked_agent_is_rescored_once_and_a_deleted_one_only_unmarked(org, settings):
    """rescore_due, as the trust worker runs it (the development server runs one too: whichever claims an
    agent first rescores it, and the outcome is the same)."""
    live = await Agent.get(id=ids.decode((await create_agent(org.admin.api)).id, "Agent"))
    gone = await Agent.get(id=ids.decode((await create_agent(org.admin.api)).id, "Agent"))
    gone_history = await TrustScoreRecord.filter(agent_id=gone.id).count()
    await Agent.filter(id=gone.id).update(deleted_at=datetime.now(UTC))
    await ActionDecision.create(
        organization_id=live.organization_id,
        agent=live,
        capability="db:read",
        allowed=False,
        reason="outside the grants",
        risk_level=Severity.LOW,
    )
    for agent in (live, gone):
        await scoring.mark_due(agent.id, datetime.now(UTC))
    await scoring.rescore_due(settings.key_rotation_days)

    assert await Agent.filter(id__in=[live.id, gone.id], trust_due_at__isnull=False).count() == 0
    latest = await TrustScoreRecord.filter(agent_id=live.id).order_by("-at").first()
    assert latest is not None and latest.reason == "actions allowed"
    assert (await Agent.get(id=live.id)).trust_score < live.trust_score  # the denial was taken in
    assert await TrustScoreRecord.filter(agent_id=gone.id).count() == gone_history
