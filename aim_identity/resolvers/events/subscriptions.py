"""The subscriptions. Each runs once per group of identical subscribers (delivery/fanout.py),
over its group's feed of the organization's events; the credential checks that are each subscriber's
own live in the fan-out too."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import strawberry

from aim_identity import ids
from aim_identity import models as m
from aim_identity.auth.principal import Principal
from aim_identity.errors import BadUserInput
from aim_identity.events import kinds
from aim_identity.schema.audit.types import AuditLogEntry
from aim_identity.schema.core.context import Info
from aim_identity.schema.core.loaders import Loaders
from aim_identity.schema.core.scalars import parse as parse_datetime
from aim_identity.schema.events.types import (
    AgentEvent,
    MCPServerEvent,
    SecurityEvent,
    TrustScoreChange,
    event_agent,
)
from aim_identity.schema.security.enums import Severity


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


def _loaders_for(event_id: str, principal: Principal) -> Loaders:
    key = (event_id, principal.organization_id, principal.agent_id)
    loaders = _EVENT_LOADERS.get(key)
    if loaders is None:
        loaders = _EVENT_LOADERS[key] = Loaders(principal.organization_id, principal.agent_id)
        if len(_EVENT_LOADERS) > _EVENT_LOADERS_KEPT:
            _EVENT_LOADERS.popitem(last=False)
    return loaders


async def security_events(info: Info, min_severity: Severity = m.Severity.INFO) -> AsyncGenerator[SecurityEvent, None]:
    floor = m.Severity(min_severity)
    async for event, loaders in _stream(info):
        if event["kind"] not in kinds.SECURITY:
            continue
        severity = kinds.severity(event)
        if severity < floor:
            continue
        yield SecurityEvent(
            kind=event["kind"],
            severity=severity,
            occurred_at=parse_datetime(event["occurredAt"]),
            event=event,
            loaders=loaders,
        )


async def agent_events(info: Info, agent_id: strawberry.ID | None = None) -> AsyncGenerator[AgentEvent, None]:
    async for event, loaders in _stream(info):
        if event["kind"] not in kinds.AGENT or (agent_id and event.get("agentId") != agent_id):
            continue
        yield AgentEvent(
            kind=event["kind"],
            occurred_at=parse_datetime(event["occurredAt"]),
            agent_id=strawberry.ID(event["agentId"]),
            loaders=loaders,
        )


async def mcp_server_events(
    info: Info, mcp_server_id: strawberry.ID | None = None
) -> AsyncGenerator[MCPServerEvent, None]:
    async for event, loaders in _stream(info):
        if event["kind"] not in kinds.MCP_SERVER or (mcp_server_id and event.get("mcpServerId") != mcp_server_id):
            continue
        health, previous = event.get("current"), event.get("previous")
        changed_health = event["kind"] == "mcp_server.health_changed"
        yield MCPServerEvent(
            kind=event["kind"],
            occurred_at=parse_datetime(event["occurredAt"]),
            mcp_server_id=strawberry.ID(event["mcpServerId"]),
            added=event.get("added"),
            removed=event.get("removed"),
            health=m.HealthStatus(health) if changed_health else None,
            previous_health=m.HealthStatus(previous) if changed_health else None,
            reason=event.get("reason"),
            loaders=loaders,
        )


async def trust_score_changes(
    info: Info, agent_id: strawberry.ID | None = None
) -> AsyncGenerator[TrustScoreChange, None]:
    async for event, loaders in _stream(info):
        if event["kind"] != kinds.TRUST_CHANGED or (agent_id and event.get("agentId") != agent_id):
            continue
        agent = await event_agent(loaders, event["agentId"])
        if agent is not None:
            yield TrustScoreChange(
                agent=agent,
                previous=event["previous"],
                current=event["current"],
                reason=event["reason"],
                at=parse_datetime(event["occurredAt"]),
            )


async def audit_log_appended(info: Info) -> AsyncGenerator[AuditLogEntry, None]:
    async for event, loaders in _stream(info, m.Role.MANAGER):
        if event["kind"] != kinds.AUDIT_APPENDED:
            continue
        row = await loaders.by_id(m.AuditLogEntry).load(ids.decode(event["entryId"], "AuditLogEntry"))
        if row is not None:
            yield AuditLogEntry.of(row)
