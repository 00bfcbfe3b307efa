"""DataLoaders, created per request and scoped to the caller's organization: one query per
relation per request, however many parents ask (a nested connection's pages included)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from strawberry.dataloader import DataLoader
from tortoise.models import Model

from aim_identity import db
from aim_identity import models as m
from aim_identity.schema.core.pagination import Connection, Order, cursor_position, forward_page, page_size
from aim_identity.tenancy import has_tombstones, scoped


@dataclass(frozen=True)
class Children:
    """The rows of a nested list (`c`, in `source`), the column that names their parent, and the one
    that names their organization, which scopes the read."""

    model: type[Model]
    source: str
    parent: str
    organization: str = "c.organization_id"


async def child_page(
    info,
    children: Children,
    parent_id: uuid.UUID,
    order: Order,
    to_node: Callable[[Any], Any],
    first: int | None,
    after: str | None,
    **equal: Any,
) -> Connection:
    """A nested connection's page (first/after), batched with the same page of every other parent."""
    loaders: Loaders = info.context.loaders
    # One row more than the page, to tell whether another follows.
    rows = await loaders.pages(children, order, page_size(first) + 1, after, **equal).load(parent_id)
    return forward_page(
        rows, order, to_node, lambda: loaders.counts(children, **equal).load(parent_id), first=first, after=after
    )


class Loaders:
    def __init__(self, organization_id: uuid.UUID | None, agent_id: uuid.UUID | None = None) -> None:
        self._org = organization_id
        self._agent = agent_id  # set for an agent principal, which may read no agent but itself
        self._cache: dict[object, DataLoader] = {}

    def _loader(self, key: object, load_fn) -> DataLoader:
        if key not in self._cache:
            self._cache[key] = DataLoader(load_fn=load_fn)
        return self._cache[key]

    def by_id(self, model: type[Model], *, tombstones: bool = False) -> DataLoader:
        """Rows by primary key; foreign or unknown keys load as None, and so do deleted rows unless
        `tombstones` (for the evidence that names them)."""

        async def load(keys: Sequence[uuid.UUID]) -> list[Model | None]:
            if self._org is None:
                return [None] * len(keys)
            query = scoped(model, self._org, tombstones=tombstones).filter(pk__in=keys)
            if model is m.Agent and self._agent is not None:
                query = query.filter(pk=self._agent)
            rows = {row.pk: row for row in await query}
            return [rows.get(k) for k in keys]

        return self._loader(("by_id", model, tombstones), load)

    def children(self, model: type[Model], parent_field: str, order_by: str = "id") -> DataLoader:
        """All rows whose `parent_field` points at each key, in `order_by` order."""

        async def load(keys: Sequence[uuid.UUID]) -> list[list[Model]]:
            grouped: dict[uuid.UUID, list[Model]] = defaultdict(list)
            if self._org is not None:
                query = scoped(model, self._org).filter(**{f"{parent_field}__in": keys}).order_by(order_by)
                for row in await query:
                    grouped[getattr(row, parent_field)].append(row)
            return [grouped[k] for k in keys]

        return self._loader(("children", model, parent_field, order_by), load)

    @property
    def agent(self) -> DataLoader:
        return self.by_id(m.Agent)

    @property
    def agent_or_tombstone(self) -> DataLoader:
        return self.by_id(m.Agent, tombstones=True)

    @property
    def user(self) -> DataLoader:
        return self.by_id(m.User)

    @property
    def organization(self) -> DataLoader:
        return self.by_id(m.Organization)

    @property
    def grants(self) -> DataLoader:
        return self.children(m.CapabilityGrant, "agent_id", "name")

    def pages(self, children: Children, order: Order, limit: int, after: str | None = None, **equal: Any) -> DataLoader:
        """Each parent's first `limit` children in `order` past `after`, in one statement whose part for
        each parent reads only those rows off the index (an agent scored every minute gathers half a
        million trust history points a year)."""
        bound = cursor_position(order, after) if after else None

        async def load(keys: Sequence[uuid.UUID]) -> list[list[Model]]:
            grouped: dict[str, list[Model]] = defaultdict(list)
            if self._org is not None and limit > 0:
                sql, params = self._pages_sql(children, order, bound, equal, len(keys))
                for row in await db.fetch(sql, self._org, limit, *params, *keys):
                    grouped[str(row.pop("aim_parent"))].append(db.instance(children.model, row))
            # A union keeps no order of its own.
            return [
                sorted(grouped[str(k)], key=lambda row: (getattr(row, order.field), row.pk), reverse=order.descending)
                for k in keys
            ]

        return self._loader(("pages", children, order, limit, after, tuple(sorted(equal.items()))), load)

    def counts(self, children: Children, **equal: Any) -> DataLoader:
        """Each parent's number of children: one grouped count for all of them."""

        async def load(keys: Sequence[uuid.UUID]) -> list[int]:
            counts: dict[str, int] = {}
            if self._org is not None:
                where, params = self._where(children, equal, first_param=2)
                parents = ", ".join(f"${n}" for n in range(len(params) + 2, len(params) + 2 + len(keys)))
                rows = await db.fetch(
                    f"SELECT {children.parent} AS aim_parent, count(*) AS n FROM {children.source} "
                    f"WHERE {where} AND {children.parent} IN ({parents}) GROUP BY {children.parent}",
                    self._org,
                    *params,
                    *keys,
                )
                counts = {str(r["aim_parent"]): r["n"] for r in rows}
            return [counts.get(str(k), 0) for k in keys]

        return self._loader(("counts", children, tuple(sorted(equal.items()))), load)

    def _where(self, children: Children, equal: dict[str, Any], first_param: int) -> tuple[str, list[Any]]:
        """The organization ($1), the equality filters and, for an agent principal, itself."""
        conditions, params = [f"{children.organization} = $1"], []
        if has_tombstones(children.model):
            conditions.append("c.deleted_at IS NULL")
        if children.model is m.Agent and self._agent is not None:
            equal = {**equal, "id": self._agent}
        for column, value in equal.items():
            params.append(value)
            conditions.append(f"c.{column} = ${first_param + len(params) - 1}")
        return " AND ".join(conditions), params

    def _pages_sql(
        self, children: Children, order: Order, bound: tuple[Any, uuid.UUID] | None, equal: dict[str, Any], parents: int
    ) -> tuple[str, list[Any]]:
        """$1 the organization, $2 the rows per parent, then the cursor, the filters, and the parents."""
        params: list[Any] = []
        direction, beyond = ("DESC", "<") if order.descending else ("ASC", ">")
        conditions = []
        if bound:
            params += bound
            conditions.append(f"(c.{order.field} {beyond} $3 OR (c.{order.field} = $3 AND c.id {beyond} $4))")
        where, filters = self._where(children, equal, first_param=3 + len(params))
        params += filters
        first_parent = 3 + len(params)
        branches = [
            f"SELECT * FROM (SELECT c.*, {children.parent} AS aim_parent FROM {children.source} "
            f"WHERE {' AND '.join([where, *conditions])} AND {children.parent} = ${first_parent + n} "
            f"ORDER BY c.{order.field} {direction}, c.id {direction} LIMIT $2) AS parent{n}"
            for n in range(parents)
        ]
        return "\nUNION ALL\n".join(branches), params
