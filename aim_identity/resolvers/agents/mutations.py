from __future__ import annotations

from aim_identity import ids
from aim_identity.identity import agents, capabilities
from aim_identity.models import AgentType, Role
from aim_identity.schema.agents.inputs import (
    AgentFeedbackInput,
    CreateAgentInput,
    DeleteAgentInput,
    GrantCapabilityInput,
    RevokeCapabilityInput,
    RotateAgentKeyInput,
    SetAgentStatusInput,
    UpdateAgentInput,
)
from aim_identity.schema.agents.payloads import AgentPayload, CreateAgentPayload, DeleteAgentPayload
from aim_identity.schema.agents.types import Agent
from aim_identity.schema.core.context import Info


async def create_agent(info: Info, input: CreateAgentInput) -> CreateAgentPayload:
    if input.capabilities:  # granted at registration, as by grantCapability
        info.context.require(capabilities.GRANTED_BY)
    row, seed = await agents.create(
        info.context.actor,
        info.context.settings,
        name=input.name,
        display_name=input.display_name,
        description=input.description,
        agent_type=AgentType(input.agent_type or AgentType.AI_AGENT),
        public_key=input.public_key,
        grants=input.capabilities or [],
    )
    return CreateAgentPayload(agent=Agent.of(row), private_key=seed)


async def update_agent(info: Info, input: UpdateAgentInput) -> AgentPayload:
    row = await agents.update(
        info.context.actor,
        ids.decode(input.id, "Agent"),
        display_name=input.display_name,
        description=input.description,
        agent_type=AgentType(input.agent_type) if input.agent_type else None,
    )
    return AgentPayload(agent=Agent.of(row))


async def delete_agent(info: Info, input: DeleteAgentInput) -> DeleteAgentPayload:
    await agents.delete(info.context.actor, ids.decode(input.id, "Agent"))
    return DeleteAgentPayload(deleted_id=input.id)


async def _set_status(info: Info, input: SetAgentStatusInput, transition: str) -> AgentPayload:
    row = await agents.change_status(
        info.context.actor, info.context.settings, ids.decode(input.id, "Agent"), transition, input.reason
    )
    return AgentPayload(agent=Agent.of(row))


async def suspend_agent(info: Info, input: SetAgentStatusInput) -> AgentPayload:
    return await _set_status(info, input, "suspend")


async def reactivate_agent(info: Info, input: SetAgentStatusInput) -> AgentPayload:
    return await _set_status(info, input, "reactivate")


async def revoke_agent(info: Info, input: SetAgentStatusInput) -> AgentPayload:
    return await _set_status(info, input, "revoke")


async def grant_capability(info: Info, input: GrantCapabilityInput) -> AgentPayload:
    row = await agents.grant(
        info.context.actor, info.context.settings, ids.decode(input.agent_id, "Agent"), input.capability
    )
    return AgentPayload(agent=Agent.of(row))


async def revoke_capability(info: Info, input: RevokeCapabilityInput) -> AgentPayload:
    row = await agents.revoke_capability(
        info.context.actor, info.context.settings, ids.decode(input.agent_id, "Agent"), input.capability
    )
    return AgentPayload(agent=Agent.of(row))


async def rotate_agent_key(info: Info, input: RotateAgentKeyInput) -> AgentPayload:
    """Members may rotate any agent's key, an agent its own; the current key's signature is always required."""
    agent_id = ids.decode(input.agent_id, "Agent")
    info.context.require_self_or(Role.MEMBER, agent_id)
    row = await agents.rotate_key(
        info.context.actor, info.context.settings, agent_id, input.new_public_key, input.signature
    )
    return AgentPayload(agent=Agent.of(row))


async def submit_agent_feedback(info: Info, input: AgentFeedbackInput) -> AgentPayload:
    rater = info.context.signed_in().user_id
    assert rater is not None  # a MEMBER or above: a person, or a key made by one
    row = await agents.submit_feedback(
        info.context.actor,
        info.context.settings,
        ids.decode(input.agent_id, "Agent"),
        rater,
        input.rating,
        input.comment,
    )
    return AgentPayload(agent=Agent.of(row))
