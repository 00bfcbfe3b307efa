"""The Relay Node interface, and the registry of Node types.

Each Node type registers itself with `@node_type(Model)`: `node(id:)` finds it by its name, and
`shape(row)` turns a row of its model into it. A type that links to a type of another domain shapes
the rows it reads through `shape`, so neither domain's module imports the other's."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import strawberry
from tortoise.models import Model

from aim_identity import ids
from aim_identity.errors import NotFound


@strawberry.interface
class Node:
    id: strawberry.ID


class NodeType(Protocol):
    @classmethod
    def of(cls, row: Any) -> Node: ...

    @classmethod
    async def load(cls, info: Any, pk: uuid.UUID) -> Node | None: ...


T = TypeVar("T")
_BY_NAME: dict[str, NodeType] = {}
_BY_MODEL: dict[type[Model], NodeType] = {}


def node_type(model: type[Model]) -> Callable[[T], T]:
    """Registers a Node type, which provides `of(row)` and `load(info, pk)`, for its model's rows."""

    def register(cls: T) -> T:
        _BY_NAME[cls.__name__] = _BY_MODEL[model] = cls  # type: ignore[attr-defined,assignment]
        return cls

    return register


def shape(row: Model) -> Any:
    """The API's view of a row, whichever domain's Node type it is."""
    return _BY_MODEL[type(row)].of(row)


async def resolve_node(info: Any, global_id: str) -> Node | None:
    principal = info.context.signed_in()
    type_name, _ = ids.parse(global_id)
    if principal.kind == "agent" and type_name != "Agent":
        return None  # an agent token reads its own Agent, nothing else
    node = _BY_NAME.get(type_name)
    if node is None:
        raise NotFound("No such object")
    return await node.load(info, ids.decode(global_id, type_name))
