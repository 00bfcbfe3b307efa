"""Capability names and matching (PROTOCOL.md): exact, or a grant ending in `*` as a prefix."""

from __future__ import annotations

import pytest

from aim_identity.errors import BadUserInput
from aim_identity.identity.capabilities import allows, validate


@pytest.mark.parametrize("name", ["db:read", "file:*", "*", "db:users:read", "mcp.tools:call", "a-b_c:x.y"])
def test_valid_names(name: str):
    assert validate(f"  {name} ") == name


@pytest.mark.parametrize("name", ["", "DB:read", "db:", ":read", "db:*:read", "db read", "db:re*d", "x" * 201])
def test_invalid_names(name: str):
    with pytest.raises(BadUserInput):
        validate(name)


@pytest.mark.parametrize(
    ("grants", "capability", "allowed"),
    [
        (["db:read"], "db:read", True),
        (["db:read"], "db:write", False),
        (["db:*"], "db:write", True),
        (["db:*"], "db:users:delete", True),
        (["db:*"], "dbx:read", False),  # a prefix of the namespace, not of the segment
        (["*"], "payment:refund", True),
        ([], "db:read", False),  # no grants, nothing allowed
        (["db:read", "file:*"], "file:write", True),
    ],
)
def test_matching(grants: list[str], capability: str, allowed: bool):
    assert allows(grants, capability) is allowed
