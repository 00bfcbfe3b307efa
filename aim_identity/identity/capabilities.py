"""Capability names and matching (PROTOCOL.md): exact, or a grant ending in `*` as a prefix."""

from __future__ import annotations

import re
from collections.abc import Iterable

from aim_identity.errors import BadUserInput
from aim_identity.models import Role

# The least role that may grant (or revoke) a capability, at registration as later.
GRANTED_BY = Role.MANAGER

_NAME = re.compile(r"^(\*|[a-z0-9][a-z0-9_.-]*(:[a-z0-9_.*-]+)*(:\*)?)$")


def validate(name: str) -> str:
    name = name.strip()
    if len(name) > 200 or not _NAME.match(name) or "*" in name[:-1]:
        raise BadUserInput(f"Invalid capability {name!r}: use names like 'db:read' or 'file:*'", field="capability")
    return name


def allows(grants: Iterable[str], capability: str) -> bool:
    return any(grant == capability or (grant.endswith("*") and capability.startswith(grant[:-1])) for grant in grants)
