"""DataLoaders, created per request and scoped to the caller's organization: one query per
relation per request, however many parents ask."""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from collections.abc import Sequence

from strawberry.dataloader import DataLoader
from tortoise.models import Model

from aim_identity import db
from aim_identity import models as m
from aim_identity.tenancy import scoped


class Loaders:
    def __init__(self, organization_id: uuid.UUID | None, agent_id: uuid.UUID | None = None) -> None:
        self._org = organization_id
        self._agent = agent_id  # set for an agent principal, which may read no agent but itself
        self._cache: dict[object, DataLoader] = {}

    def _loader(self, key: object, load_fn) -> DataLoader:
        if key not in self._cache:
            self._cache[key] = DataLoader(load_fn=load_fn)
        return self._cache[key]

    def by_id(self, model: type[Model]) -> DataLoader:
        """Rows by primary key; foreign or unknown keys load as None."""

        async def load(keys: Sequence[uuid.UUID]) -> list[Model | None]:
            if self._org is None:
                return [None] * len(keys)
            query = scoped(model, self._org).filter(pk__in=keys)
            if model is m.Agent and self._agent is not None:
                query = query.filter(pk=self._agent)
            rows = {row.pk: row for row in await query}
            return [rows.get(k) for k in keys]

        return self._loader(("by_id", model), load)

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
    def user(self) -> DataLoader:
        return self.by_id(m.User)

    @property
    def organization(self) -> DataLoader:
        return self.by_id(m.Organization)

    @property
    def grants(self) -> DataLoader:
        return self.children(m.CapabilityGrant, "agent_id", "name")

    def trust_history(self, first: int) -> DataLoader:
        """Each agent's newest `first` points, newest first. One statement, whose part for each agent
        reads only those points off the (agent_id, at) index: an agent scored every minute gathers half
        a million points a year."""

        async def load(keys: Sequence[uuid.UUID]) -> list[list[m.TrustScoreRecord]]:
            grouped: dict[str, list[m.TrustScoreRecord]] = defaultdict(list)
            if self._org is not None and first > 0:
                for row in await db.fetch(_newest_points(len(keys)), self._org, first, *keys):
                    grouped[str(row["agent_id"])].append(db.instance(m.TrustScoreRecord, row))
            return [sorted(grouped[str(k)], key=lambda p: (p.at, p.id), reverse=True) for k in keys]

        return self._loader(("trust_history", first), load)


@functools.lru_cache(maxsize=64)
def _newest_points(agents: int) -> str:
    """$1 the caller's organization, $2 how many points, $3.. the agents."""
    return "\nUNION ALL\n".join(f"""SELECT * FROM (
  SELECT h.* FROM trust_score_history h JOIN agents a ON a.id = h.agent_id AND a.organization_id = $1
  WHERE h.agent_id = ${n} ORDER BY h.at DESC, h.id DESC LIMIT $2) AS agent{n}""" for n in range(3, agents + 3))
