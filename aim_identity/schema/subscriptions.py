"""The four subscriptions. Each runs once per group of identical subscribers (fanout.py), over
its group's feed of the organization's events; the credential checks that are each subscriber's own
live in fanout.py too."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import Any

import strawberry

from aim_identity import ids
from aim_identity import models as m
from aim_identity.errors import BadUserInput
from aim_identity.schema.agents import Agent
from aim_identity.schema.audit import AuditLogEntry
from aim_identity.schema.context import Info
from aim_identity.schema.loaders import Loaders
from aim_identity.schema.scalars import parse as parse_datetime
from aim_identity.schema.threats import Anomaly, Severity, Threat

SECURITY_KINDS = {"threat.detected", "threat.updated", "anomaly.detected", "agent.verification_failed",
                  "agent.suspended"}
AGENT_KINDS = {"agent.created", "agent.updated", "agent.verified", "agent.verification_failed", "agent.suspended",
               "agent.reactivated", "agent.revoked", "agent.deleted", "agent.key_rotated", "agent.trust_changed"}
SEVERITY_ORDER = list(m.Severity)
KIND_SEVERITY = {"agent.verification_failed": m.Severity.LOW, "agent.suspended": m.Severity.MEDIUM}


async def _stream(info: Info, role: m.Role = m.Role.VIEWER) -> AsyncIterator[tuple[dict[str, Any], Loaders]]:
    """The organization's events, each with the loaders its nested fields share."""
    ctx = info.context
    principal = ctx.require(role)
    if ctx.feed is None:
        raise BadUserInput("Subscriptions are served over WebSocket (graphql-transport-ws) at /graphql")
    async for event in ctx.feed:
        loaders = _loaders_for(event["id"], principal)
        ctx.loaders = loaders  # nested fields read this event's rows, not the first event's
        yield event, loaders


# Every group that hears an event in this process shares its loaders, so each row loads once per event.
_EVENT_LOADERS: OrderedDict[tuple, Loaders] = OrderedDict()
_EVENT_LOADERS_KEPT = 256


def _loaders_for(event_id: str, principal) -> Loaders:
    key = (event_id, principal.organization_id, principal.agent_id)
    loaders = _EVENT_LOADERS.get(key)
    if loaders is None:
        loaders = _EVENT_LOADERS[key] = Loaders(principal.organization_id, principal.agent_id)
        if len(_EVENT_LOADERS) > _EVENT_LOADERS_KEPT:
            _EVENT_LOADERS.popitem(last=False)
    return loaders


def _uuid(global_id: str | None, type_name: str):
    return ids.decode(global_id, type_name) if global_id else None


async def _agent(loaders: Loaders, global_id: str | None) -> Agent | None:
    row = await loaders.agent.load(_uuid(global_id, "Agent")) if global_id else None
    return Agent.of(row) if row else None


@strawberry.type
class SecurityEvent:
    kind: str
    severity: Severity
    occurred_at: datetime
    event: strawberry.Private[dict[str, Any]]
    loaders: strawberry.Private[Loaders]

    @strawberry.field
    async def threat(self) -> Threat | None:
        row = await self.loaders.by_id(m.Threat).load(_uuid(self.event["threatId"], "Threat")) \
            if self.event.get("threatId") else None
        return Threat.of(row) if row else None

    @strawberry.field
    async def anomaly(self) -> Anomaly | None:
        row = await self.loaders.by_id(m.Anomaly).load(_uuid(self.event["anomalyId"], "Anomaly")) \
            if self.event.get("anomalyId") else None
        return Anomaly.of(row) if row else None

    @strawberry.field
    async def agent(self) -> Agent | None:
        return await _agent(self.loaders, self.event.get("agentId"))


@strawberry.type
class AgentEvent:
    kind: str
    occurred_at: datetime
    agent_id: strawberry.ID
    loaders: strawberry.Private[Loaders]

    @strawberry.field
    async def agent(self) -> Agent | None:
        return await _agent(self.loaders, self.agent_id)


@strawberry.type
class TrustScoreChange:
    agent: Agent
    previous: float
    current: float
    reason: str
    at: datetime


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def security_events(self, info: Info, min_severity: Severity = m.Severity.INFO
                              ) -> AsyncGenerator[SecurityEvent, None]:
        floor = SEVERITY_ORDER.index(m.Severity(min_severity))
        async for event, loaders in _stream(info):
            if event["kind"] not in SECURITY_KINDS:
                continue
            severity = m.Severity(event.get("severity") or KIND_SEVERITY.get(event["kind"], m.Severity.INFO))
            if SEVERITY_ORDER.index(severity) < floor:
                continue
            yield SecurityEvent(kind=event["kind"], severity=severity, occurred_at=parse_datetime(event["occurredAt"]),
                                event=event, loaders=loaders)

    @strawberry.subscription
    async def agent_events(self, info: Info, agent_id: strawberry.ID | None = None
                           ) -> AsyncGenerator[AgentEvent, None]:
        async for event, loaders in _stream(info):
            if event["kind"] not in AGENT_KINDS or agent_id and event.get("agentId") != agent_id:
                continue
            yield AgentEvent(kind=event["kind"], occurred_at=parse_datetime(event["occurredAt"]),
                             agent_id=strawberry.ID(event["agentId"]), loaders=loaders)

    @strawberry.subscription
    async def trust_score_changes(self, info: Info, agent_id: strawberry.ID | None = None
                                  ) -> AsyncGenerator[TrustScoreChange, None]:
        async for event, loaders in _stream(info):
            if event["kind"] != "agent.trust_changed" or agent_id and event.get("agentId") != agent_id:
                continue
            agent = await _agent(loaders, event["agentId"])
            if agent is not None:
                yield TrustScoreChange(agent=agent, previous=event["previous"], current=event["current"],
                                       reason=event["reason"], at=parse_datetime(event["occurredAt"]))

    @strawberry.subscription
    async def audit_log_appended(self, info: Info) -> AsyncGenerator[AuditLogEntry, None]:
        async for event, loaders in _stream(info, m.Role.MANAGER):
            if event["kind"] != "audit.appended":
                continue
            row = await loaders.by_id(m.AuditLogEntry).load(_uuid(event["entryId"], "AuditLogEntry"))
            if row is not None:
                yield AuditLogEntry.of(row)



