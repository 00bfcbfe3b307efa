from __future__ import annotations

from aim_identity import ids
from aim_identity.schema.core.context import Info
from aim_identity.schema.security.inputs import ThreatActionInput, UpdateSecurityPolicyInput
from aim_identity.schema.security.payloads import ThreatPayload
from aim_identity.schema.security.types import SecurityPolicy, Threat
from aim_identity.security import policies, threats


async def acknowledge_threat(info: Info, input: ThreatActionInput) -> ThreatPayload:
    row = await threats.acknowledge(info.context.actor, ids.decode(input.id, "Threat"), input.note)
    return ThreatPayload(threat=Threat.of(row))


async def block_threat(info: Info, input: ThreatActionInput) -> ThreatPayload:
    assert info.context.blocklist is not None  # every HTTP request has one
    row = await threats.block(info.context.actor, info.context.blocklist, ids.decode(input.id, "Threat"), input.note)
    return ThreatPayload(threat=Threat.of(row))


async def resolve_threat(info: Info, input: ThreatActionInput) -> ThreatPayload:
    row = await threats.resolve(
        info.context.actor, ids.decode(input.id, "Threat"), input.note, false_positive=input.false_positive
    )
    return ThreatPayload(threat=Threat.of(row))


async def update_security_policy(info: Info, input: UpdateSecurityPolicyInput) -> SecurityPolicy:
    policy = await policies.update(
        info.context.actor,
        input.threat_type,
        input.min_severity,
        input.action,
        input.enabled,
        input.threshold,
        input.window_seconds,
    )
    return SecurityPolicy.of(policy)
