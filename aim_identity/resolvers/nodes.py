from __future__ import annotations

import strawberry

# Importing the type modules registers their loaders with `node(id:)`.
from aim_identity.schema import agents, api_keys, mcp, organizations, threats, users, verification  # noqa: F401
from aim_identity.schema.context import Info
from aim_identity.schema.node import Node, resolve_node


async def node(info: Info, id: strawberry.ID) -> Node | None:
    return await resolve_node(info, id)
