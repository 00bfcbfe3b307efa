from __future__ import annotations

from datetime import datetime, timezone

import strawberry
from tortoise.expressions import Q
from tortoise.functions import Coalesce

from aim_identity import ids
from aim_identity.errors import BadUserInput
from aim_identity.identity import agents
from aim_identity.models import Agent as AgentRow
from aim_identity.models import AgentType, Role
from aim_identity.schema.agents import (
    Agent,
    AgentFeedbackInput,
    AgentFilter,
    AgentOrder,
    AgentOrderField,
    AgentPayload,
    CreateAgentInput,
    CreateAgentPayload,
    DeleteAgentInput,
    DeleteAgentPayload,
    GrantCapabilityInput,
    RevokeCapabilityInput,
    RotateAgentKeyInput,
    SetAgentStatusInput,
    SortDirection,
    UpdateAgentInput,
    visible_agent,
)
from aim_identity.schema.context import Info
from aim_identity.schema.pagination import Connection, Order, paginate
from aim_identity.tenancy import scoped

# Agents never verified sort as the oldest, so the keyset order has no NULLs to trip on. A datetime,
# not a string: asyncpg binds the parameter as a timestamp and refuses a str.
_NEVER = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _filtered(info: Info, filter: AgentFilter | None):
    query = scoped(AgentRow, info.context.organization_id)
    if filter is None:
        return query
    if filter.status:
        query = query.filter(status__in=[s.value for s in filter.status])
    if filter.agent_type:
        query = query.filter(agent_type__in=[t.value for t in filter.agent_type])
    if filter.search:
        query = query.filter(Q(name__icontains=filter.search) | Q(display_name__icontains=filter.search))
    if filter.min_trust_score is not None:
        query = query.filter(trust_score__gte=filter.min_trust_score)
    if filter.max_trust_score is not None:
        query = query.filter(trust_score__lte=filter.max_trust_score)
    return query


async def list_agents(info: Info, first: int | None = None, after: str | None = None, last: int | None = None,
                      before: str | None = None, filter: AgentFilter | None = None,
                      order_by: AgentOrder | None = None) -> Connection[Agent]:
    query = _filtered(info, filter)
    order_field = order_by.field if order_by else AgentOrderField.CREATED_AT
    field = order_field.value
    descending = order_by.direction == SortDirection.DESC if order_by else False
    if order_field == AgentOrderField.LAST_VERIFIED_AT:
        query = query.annotate(verified_sort=Coalesce("last_verified_at", _NEVER))
        field = "verified_sort"
    order = Order(field, descending, _SORT_KEY_TYPES.get(order_field, datetime))
    return await paginate(query, order, Agent.of, first=first, after=after, last=last, before=before)


_SORT_KEY_TYPES = {AgentOrderField.NAME: str, AgentOrderField.TRUST_SCORE: float}


async def agent(info: Info, id: strawberry.ID) -> Agent | None:
    row = await visible_agent(info, ids.decode(id, "Agent"))
    return Agent.of(row) if row else None


async def create_agent(info: Info, input: CreateAgentInput) -> CreateAgentPayload:
    row, seed = await agents.create(
        info.context.actor, info.context.settings, name=input.name, display_name=input.display_name,
        description=input.description, agent_type=AgentType(input.agent_type or AgentType.AI_AGENT),
        public_key=input.public_key, grants=input.capabilities or [])
    return CreateAgentPayload(agent=Agent.of(row), private_key=seed)


async def update_agent(info: Info, input: UpdateAgentInput) -> AgentPayload:
    row = await agents.update(info.context.actor, input.id, display_name=input.display_name,
                              description=input.description,
                              agent_type=AgentType(input.agent_type) if input.agent_type else None)
    return AgentPayload(agent=Agent.of(row))


async def delete_agent(info: Info, input: DeleteAgentInput) -> DeleteAgentPayload:
    return DeleteAgentPayload(deleted_id=await agents.delete(info.context.actor, input.id))


async def _set_status(info: Info, input: SetAgentStatusInput, transition: str) -> AgentPayload:
    row = await agents.change_status(info.context.actor, info.context.settings, input.id, transition, input.reason)
    return AgentPayload(agent=Agent.of(row))


async def suspend_agent(info: Info, input: SetAgentStatusInput) -> AgentPayload:
    return await _set_status(info, input, "suspend")


async def reactivate_agent(info: Info, input: SetAgentStatusInput) -> AgentPayload:
    return await _set_status(info, input, "reactivate")


async def revoke_agent(info: Info, input: SetAgentStatusInput) -> AgentPayload:
    return await _set_status(info, input, "revoke")


async def grant_capability(info: Info, input: GrantCapabilityInput) -> AgentPayload:
    row = await agents.grant(info.context.actor, info.context.settings, input.agent_id, input.capability)
    return AgentPayload(agent=Agent.of(row))


async def revoke_capability(info: Info, input: RevokeCapabilityInput) -> AgentPayload:
    row = await agents.revoke_capability(info.context.actor, info.context.settings, input.agent_id, input.capability)
    return AgentPayload(agent=Agent.of(row))


async def rotate_agent_key(info: Info, input: RotateAgentKeyInput) -> AgentPayload:
    """Members may rotate any agent's key, an agent its own; the current key's signature is always required."""
    info.context.require_self_or(Role.MEMBER, input.agent_id)
    row = await agents.rotate_key(info.context.actor, info.context.settings, input.agent_id, input.new_public_key,
                                  input.signature)
    return AgentPayload(agent=Agent.of(row))


async def submit_agent_feedback(info: Info, input: AgentFeedbackInput) -> AgentPayload:
    if input.comment is not None and len(input.comment) > 2000:
        raise BadUserInput("A comment may have at most 2000 characters", field="comment")
    row = await agents.submit_feedback(info.context.actor, info.context.settings, input.agent_id, input.rating,
                                       input.comment)
    return AgentPayload(agent=Agent.of(row))
