from __future__ import annotations

import strawberry

from aim_identity import ids
from aim_identity import models as m
from aim_identity.schema.core.context import Info
from aim_identity.schema.core.pagination import Connection, Order, paginate
from aim_identity.schema.mcp.types import MCPServer
from aim_identity.tenancy import scoped


async def mcp_servers(
    info: Info, first: int | None = None, after: str | None = None, search: str | None = None
) -> Connection[MCPServer]:
    query = scoped(m.MCPServer, info.context.organization_id)
    if search:
        query = query.filter(name__icontains=search)
    return await paginate(query, Order("created_at"), MCPServer.of, first=first, after=after)


async def mcp_server(info: Info, id: strawberry.ID) -> MCPServer | None:
    return await MCPServer.load(info, ids.decode(id, "MCPServer"))
