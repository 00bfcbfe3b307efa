"""Gathering an agent's recorded evidence, scoring it, and storing the result with its history."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

from aim_identity import db, ids, tenancy
from aim_identity.actors import Actor
from aim_identity.identity import trust
from aim_identity.models import (
    Agent,
    Severity,
    ThreatStatus,
    VerificationResult,
)
from aim_identity.unit_of_work import Work, atomic

UNRESOLVED = (ThreatStatus.OPEN, ThreatStatus.ACKNOWLEDGED)
# The age factor grows with the clock (about 1e-8 a second), so two rescorings moments apart always
# differ by a hair; a history point for that would depend on request timing, not on evidence.
SIGNIFICANT_CHANGE = 1e-6
# Evidence ages even when nothing new is recorded (uptime counts the last 7 days, age grows), so a
# score older than this is recomputed by housekeeping; a day matches the factors' own granularity.
STALE_AFTER = timedelta(days=1)
STALE_BATCH = 500
DUE_BATCH = 100  # agents rescored per pass of the trust worker


# All of an agent's evidence in one statement: a rescoring runs inside most writes, and eight ORM
# queries cost it more CPU than the rest of the write. Each row is (kind, label, n, at). $1 is the agent, $2 a month
# ago, $3.. the starts of the uptime window's days and of the day after: each day is two index probes,
# however often the agent verifies.
_ACTIVE_DAY = """
SELECT 'day', '{day}', 1, NULL
WHERE EXISTS (SELECT 1 FROM verification_events WHERE agent_id = $1 AND proven AND result = 'VERIFIED'
                                                 AND created_at >= ${start} AND created_at < ${end})
   OR EXISTS (SELECT 1 FROM action_decisions WHERE agent_id = $1 AND proven AND allowed
                                              AND created_at >= ${start} AND created_at < ${end})"""
_EVIDENCE = """
SELECT 'answer' AS kind, result AS label, 1 AS n, created_at AS at
FROM (SELECT result, created_at FROM verification_events WHERE agent_id = $1 AND proven
      ORDER BY created_at DESC LIMIT {window}) AS recent
UNION ALL{days}
UNION ALL
SELECT 'action', CASE WHEN allowed THEN 'allowed' ELSE 'denied' END || ':'
                 || CASE WHEN succeeded IS NULL THEN 'unreported' WHEN succeeded THEN 'succeeded' ELSE 'failed' END,
       count(*), NULL
FROM action_decisions WHERE agent_id = $1 AND proven AND created_at >= $2 GROUP BY allowed, succeeded
UNION ALL
SELECT 'threat', severity, count(*), NULL FROM threats
WHERE agent_id = $1 AND status IN ({unresolved}) AND detected_at >= $2 GROUP BY severity
UNION ALL
SELECT 'grant', name, 1, NULL FROM capability_grants WHERE agent_id = $1
UNION ALL
SELECT 'mcp', CASE WHEN declared THEN 'declared' ELSE 'undeclared' END, count(*), NULL
FROM agent_mcp_servers WHERE agent_id = $1 GROUP BY declared
UNION ALL
SELECT 'rating', CAST(rating AS TEXT), count(*), NULL FROM agent_feedback WHERE agent_id = $1 GROUP BY rating
""".format(
    window=trust.VERIFICATION_WINDOW,
    unresolved=", ".join(f"'{s.value}'" for s in UNRESOLVED),
    days="\nUNION ALL".join(_ACTIVE_DAY.format(day=d, start=d + 3, end=d + 4) for d in range(trust.UPTIME_WINDOW_DAYS)),
)


async def gather(
    agent: Agent, key_rotation_days: int, now: datetime | None = None, answer: bool | None = None
) -> trust.Evidence:
    """`answer`: the outcome of a challenge answer this transaction is about to record, counted as
    evidence already (its row is written afterwards, with the score it produced)."""
    now = now or datetime.now(UTC)
    month_ago = now - timedelta(days=30)
    week_start = (now - timedelta(days=trust.UPTIME_WINDOW_DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    day_starts = [week_start + timedelta(days=d) for d in range(trust.UPTIME_WINDOW_DAYS + 1)]
    rows = await db.fetch(_EVIDENCE, agent.id, month_ago, *day_starts)

    answers = sorted(((db.as_datetime(r["at"]), r["label"]) for r in rows if r["kind"] == "answer"), reverse=True)
    verifications = [VerificationResult(result) == VerificationResult.VERIFIED for _, result in answers]
    days = {r["label"] for r in rows if r["kind"] == "day"}
    if answer is not None:
        verifications = [answer, *verifications][: trust.VERIFICATION_WINDOW]
        if answer:
            days.add(str(trust.UPTIME_WINDOW_DAYS - 1))  # today
    counts = {(r["kind"], r["label"]): r["n"] for r in rows if r["kind"] != "answer"}

    def tally(kind: str, *labels: str) -> int:
        return sum(n for (k, label), n in counts.items() if k == kind and any(p in label.split(":") for p in labels))

    return trust.Evidence(
        now=now,
        status=agent.status,
        created_at=agent.created_at,
        key_created_at=agent.key_created_at,
        key_rotation_days=key_rotation_days,
        verifications=verifications,
        active_days=len(days),
        actions_succeeded=tally("action", "succeeded"),
        actions_failed=tally("action", "failed"),
        actions_allowed=tally("action", "allowed"),
        actions_denied=tally("action", "denied"),
        open_threats=[Severity(label) for (kind, label), n in counts.items() if kind == "threat" for _ in range(n)],
        grants=[label for kind, label in counts if kind == "grant"],
        mcp_declared=counts.get(("mcp", "declared"), 0),
        mcp_undeclared=counts.get(("mcp", "undeclared"), 0),
        ratings=[int(label) for (kind, label), n in counts.items() if kind == "rating" for _ in range(n)],
    )


@dataclass(frozen=True)
class Rescored:
    before: float
    after: float
    evidence: trust.Evidence


async def rescore(
    work: Work,
    agent: Agent,
    reason: str,
    key_rotation_days: int,
    *,
    answer: bool | None = None,
    also_save: tuple[str, ...] = (),
) -> Rescored:
    """Recompute and store the agent's score; a change lands in its history and is published.
    `answer` is a challenge answer not yet written (see `gather`); `also_save` names agent columns the
    caller changed, written by the same UPDATE."""
    before = agent.trust_score
    first = agent.trust_computed_at is None
    now = datetime.now(UTC)
    evidence = await gather(agent, key_rotation_days, now, answer)
    result = trust.compute(evidence)
    agent.trust_score = result.score
    agent.trust_confidence = result.confidence
    agent.trust_factors = [f.as_dict() for f in result.factors]
    agent.trust_computed_at = now
    columns = {
        "trust_score": agent.trust_score,
        "trust_confidence": agent.trust_confidence,
        "trust_factors": json.dumps(agent.trust_factors),
        "trust_computed_at": now,
    }
    if also_save:
        agent.updated_at = now
        columns |= {name: getattr(agent, name) for name in (*also_save, "updated_at")}
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=2))
    await db.execute(
        f"UPDATE agents SET {assignments} WHERE id = $1",
        agent.id,
        *(v.value if isinstance(v, Enum) else v for v in columns.values()),
    )
    if first or abs(result.score - before) > SIGNIFICANT_CHANGE:
        await db.execute(
            "INSERT INTO trust_score_history (agent_id, score, reason, at) VALUES ($1, $2, $3, $4)",
            agent.id,
            result.score,
            reason,
            now,
        )
        work.emit(
            "agent.trust_changed",
            organization_id=agent.organization_id,
            agentId=ids.encode("Agent", agent.id),
            previous=before,
            current=result.score,
            reason=reason,
        )
    return Rescored(before, result.score, evidence)


async def rescore_stale(key_rotation_days: int, now: datetime | None = None) -> int:
    """Recomputes the oldest scores computed more than STALE_AFTER ago, so an agent that stops proving
    itself loses trust as its evidence ages instead of keeping yesterday's score."""
    cutoff = (now or datetime.now(UTC)) - STALE_AFTER
    stale = (
        await Agent.filter(trust_computed_at__lt=cutoff, deleted_at=None)
        .order_by("trust_computed_at")
        .limit(STALE_BATCH)
        .values_list("id", "organization_id")
    )
    for agent_id, organization_id in stale:
        async with atomic(Actor(organization_id, "system")) as work:
            agent = await Agent.select_for_update().get_or_none(
                id=agent_id, trust_computed_at__lt=cutoff, deleted_at=None
            )
            if agent is not None:  # another worker may have got there first
                await rescore(work, agent, "evidence aged", key_rotation_days)
    return len(stale)


async def mark_due(agent_id: uuid.UUID, now: datetime) -> None:
    """Evidence the agent's score will take in soon, not now (an allowed action: the bulk of all requests,
    and the one whose effect on the score is smallest). The statement always writes the row, so it
    waits for a rescoring that holds it, and that rescoring, once done, leaves the mark for the next."""
    await db.execute("UPDATE agents SET trust_due_at = COALESCE(trust_due_at, $2) WHERE id = $1", agent_id, now)


async def rescore_due(key_rotation_days: int, limit: int = DUE_BATCH) -> int:
    """Rescores agents marked by `mark_due`, longest waiting first, each in its own transaction and
    claimed with SKIP LOCKED, so that any number of workers share them. Returns how many it rescored."""
    for done in range(limit):
        async with atomic(Actor(None, "system", "trust")) as work:
            row = await db.fetch_one(
                "SELECT * FROM agents WHERE trust_due_at IS NOT NULL "
                "ORDER BY trust_due_at LIMIT 1 FOR UPDATE SKIP LOCKED"
            )
            if row is None:
                return done
            agent = db.instance(Agent, row)
            if agent.deleted_at is None:  # a deleted agent's score is kept as it was
                await rescore(work, agent, "actions allowed", key_rotation_days)
            await db.execute("UPDATE agents SET trust_due_at = NULL WHERE id = $1", agent.id)
            # Nothing here is audited, and a change too small for the history still rewrites the factors'
            # explanations: cached answers that read them must not be served again.
            await tenancy.touch({agent.organization_id})
    return limit
