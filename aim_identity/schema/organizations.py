from __future__ import annotations

from datetime import datetime

import strawberry

from aim_identity import ids
from aim_identity import models as m
from aim_identity.schema.node import Node, loadable


@strawberry.type
class Organization(Node):
    name: str
    slug: str
    created_at: datetime

    @classmethod
    def of(cls, row: m.Organization) -> Organization:
        return cls(id=strawberry.ID(ids.encode("Organization", row.id)), name=row.name, slug=row.slug,
                   created_at=row.created_at)


@loadable("Organization")
async def load_organization(info, global_id: str) -> Organization | None:
    row = await info.context.loaders.organization.load(ids.decode(global_id, "Organization"))
    return Organization.of(row) if row else None
