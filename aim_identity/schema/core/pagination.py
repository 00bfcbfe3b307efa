"""Relay cursor connections with keyset pagination: a cursor is the sort key and id of its row,
so pages stay correct while rows are added, and no query uses OFFSET."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Generic, TypeVar

import strawberry
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from aim_identity.errors import BadUserInput

T = TypeVar("T")
MAX_PAGE = 100
DEFAULT_PAGE = 20


@strawberry.enum
class SortDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field
    async def total_count(self) -> int:
        return await self.count()  # only queried when the client asks for it


@dataclass(frozen=True)
class Order:
    field: str  # a model field, or an annotation made non-null for stable ordering
    descending: bool = False
    value_type: type = datetime  # what its sort key is: a cursor holding anything else is refused


def _encode(order: Order, value: Any, pk: Any) -> str:
    if order.value_type is datetime and isinstance(value, str):
        value = datetime.fromisoformat(value)  # SQLite returns an annotated time as text
    if isinstance(value, datetime):
        value = {"t": value.isoformat()}
    return base64.urlsafe_b64encode(json.dumps([order.field, value, str(pk)]).encode()).decode()


def _decode(cursor: str, order: Order) -> tuple[Any, str]:
    try:
        cursor_field, value, pk = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        uuid.UUID(str(pk))
        if isinstance(value, dict):
            value = datetime.fromisoformat(value["t"])
    except (ValueError, TypeError, KeyError):
        raise BadUserInput("Invalid cursor", field="cursor") from None
    # Another order's sort key may not even compare with this one's (a name against a score).
    if cursor_field != order.field:
        raise BadUserInput("The cursor belongs to another order", field="cursor")
    # A hand-made key of the wrong type would otherwise reach the database and fail there.
    wanted = (int, float) if order.value_type is float else order.value_type
    naive = isinstance(value, datetime) and value.tzinfo is None
    if not isinstance(value, wanted) or isinstance(value, bool) or naive:
        raise BadUserInput("Invalid cursor", field="cursor")
    return value, pk


def _beyond(order: Order, cursor: str, forward: bool) -> Q:
    """Rows strictly after (forward) or before the cursor in the given order."""
    value, pk = _decode(cursor, order)
    op = "gt" if forward != order.descending else "lt"
    return Q(**{f"{order.field}__{op}": value}) | Q(**{order.field: value, f"id__{op}": pk})


def _size(value: int | None, name: str) -> int | None:
    if value is not None and not 0 <= value <= MAX_PAGE:
        raise BadUserInput(f"{name} must be between 0 and {MAX_PAGE}", field=name)
    return value


async def paginate(
    query: QuerySet,
    order: Order,
    to_node: Callable[[Any], T],
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Connection[T]:
    first, last = _size(first, "first"), _size(last, "last")
    if first is not None and last is not None:
        raise BadUserInput("Use first or last, not both")
    counted = query
    if after:
        query = query.filter(_beyond(order, after, forward=True))
    if before:
        query = query.filter(_beyond(order, before, forward=False))
    backward = last is not None
    limit = last if last is not None else (first if first is not None else DEFAULT_PAGE)
    # Fetch one extra row to learn whether another page exists.
    descending = order.descending != backward
    prefix = "-" if descending else ""
    rows = list(await query.order_by(f"{prefix}{order.field}", f"{prefix}id").limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    if backward:
        rows.reverse()
    return _connection(
        rows,
        order,
        to_node,
        counted.count,
        has_next=more if not backward else before is not None,
        has_previous=more if backward else after is not None,
    )


def forward_page(
    rows: list,
    order: Order,
    to_node: Callable[[Any], T],
    count: Callable[[], Awaitable[int]],
    *,
    first: int | None,
    after: str | None,
) -> Connection[T]:
    """A page from rows read elsewhere in `order` past `after`, up to one more than page_size(first)."""
    limit = page_size(first)
    return _connection(rows[:limit], order, to_node, count, has_next=len(rows) > limit, has_previous=after is not None)


def page_size(first: int | None) -> int:
    size = _size(first, "first")
    return DEFAULT_PAGE if size is None else size


def cursor_position(order: Order, cursor: str) -> tuple[Any, uuid.UUID]:
    """The sort key and id a cursor points at; rows beyond it come strictly after, in `order`."""
    value, pk = _decode(cursor, order)
    return value, uuid.UUID(pk)


def _connection(
    rows: list,
    order: Order,
    to_node: Callable[[Any], T],
    count: Callable[[], Awaitable[int]],
    *,
    has_next: bool,
    has_previous: bool,
) -> Connection[T]:
    edges = [Edge(cursor=_encode(order, getattr(row, order.field), row.pk), node=to_node(row)) for row in rows]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        count=count,
    )
