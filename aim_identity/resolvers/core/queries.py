from __future__ import annotations

import strawberry

from aim_identity.schema.core.context import Info
from aim_identity.schema.core.node import Node, resolve_node


async def node(info: Info, id: strawberry.ID) -> Node | None:
    return await resolve_node(info, id)
