"""The Relay Node interface and `node(id:)`: each Node type registers how to load itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from aim_identity import ids
from aim_identity.errors import NotFound


@strawberry.interface
class Node:
    id: strawberry.ID


NodeLoader = Callable[[object, str], Awaitable["Node | None"]]
_LOADERS: dict[str, NodeLoader] = {}


def loadable(type_name: str):
    """Register `async def load(info, global_id) -> Node | None` for `node(id:)`."""

    def register(load: NodeLoader) -> NodeLoader:
        _LOADERS[type_name] = load
        return load

    return register


async def resolve_node(info, global_id: str) -> Node | None:
    principal = info.context.signed_in()
    type_name, _ = ids.parse(global_id)
    if principal.kind == "agent" and type_name != "Agent":
        return None  # an agent token reads its own Agent, nothing else
    load = _LOADERS.get(type_name)
    if load is None:
        raise NotFound("No such object")
    return await load(info, global_id)
