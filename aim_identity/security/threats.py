"""Raising a threat: a row, an audit entry and a `threat.detected` event, in the caller's transaction."""

from __future__ import annotations

import uuid
from typing import Any

from aim_identity import ids
from aim_identity.models import Severity, Threat, ThreatType
from aim_identity.unit_of_work import Work


async def raise_threat(
    work: Work,
    organization_id: uuid.UUID,
    type: ThreatType,
    severity: Severity,
    title: str,
    description: str,
    *,
    agent_id: uuid.UUID | None = None,
    mcp_server_id: uuid.UUID | None = None,
    evidence: dict[str, Any] | None = None,
) -> Threat:
    threat = await Threat.create(
        organization_id=organization_id,
        agent_id=agent_id,
        mcp_server_id=mcp_server_id,
        type=type,
        severity=severity,
        title=title,
        description=description,
        evidence=evidence or {},
    )
    threat_gid = ids.encode("Threat", threat.id)
    work.audit(
        "threat.detected",
        "Threat",
        threat_gid,
        organization_id=organization_id,
        type=type.value,
        severity=severity.value,
    )
    work.emit(
        "threat.detected",
        organization_id=organization_id,
        threatId=threat_gid,
        severity=severity.value,
        agentId=ids.encode("Agent", agent_id) if agent_id else None,
        mcpServerId=ids.encode("MCPServer", mcp_server_id) if mcp_server_id else None,
    )
    return threat
