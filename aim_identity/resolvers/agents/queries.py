from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from tortoise.expressions import Q
from tortoise.functions import Coalesce
from tortoise.queryset import QuerySet

from aim_identity import ids
from aim_identity import models as m
from aim_identity.schema.agents.inputs import AgentFilter, AgentOrder, AgentOrderField
from aim_identity.schema.agents.types import Agent
from aim_identity.schema.core.context import Info
from aim_identity.schema.core.pagination import Connection, Order, SortDirection, paginate
from aim_identity.tenancy import scoped

# Agents never verified sort as the oldest, so the keyset order has no NULLs to trip on. A datetime,
# not a string: asyncpg binds the parameter as a timestamp and refuses a str.
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)
_SORT_KEY_TYPES = {AgentOrderField.NAME: str, AgentOrderField.TRUST_SCORE: float}


def _filtered(info: Info, filter: AgentFilter | None) -> QuerySet[m.Agent]:
    query = scoped(m.Agent, info.context.organization_id)
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


async def agents(
    info: Info,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    filter: AgentFilter | None = None,
    order_by: AgentOrder | None = None,
) -> Connection[Agent]:
    query = _filtered(info, filter)
    order_field = order_by.field if order_by else AgentOrderField.CREATED_AT
    field = order_field.value
    descending = order_by.direction == SortDirection.DESC if order_by else False
    if order_field == AgentOrderField.LAST_VERIFIED_AT:
        query = query.annotate(verified_sort=Coalesce("last_verified_at", _NEVER))
        field = "verified_sort"
    order = Order(field, descending, _SORT_KEY_TYPES.get(order_field, datetime))
    return await paginate(query, order, Agent.of, first=first, after=after, last=last, before=before)


async def agent(info: Info, id: strawberry.ID) -> Agent | None:
    return await Agent.load(info, ids.decode(id, "Agent"))
