"""What an MCP server offers, compared and checked (mcp/capabilities.py)."""

from __future__ import annotations

import pytest

from aim_identity.errors import BadUserInput
from aim_identity.mcp.capabilities import MAX_DECLARED, declared, diff, item, tool_capability


def test_a_change_is_what_was_added_and_what_was_removed_by_kind_and_name():
    before = [item("TOOL", "read"), item("TOOL", "write"), item("PROMPT", "write")]
    after = [item("TOOL", "read"), item("RESOURCE", "write", uri="file:///w"), item("TOOL", "delete")]
    change = diff(before, after)
    assert [(c["kind"], c["name"]) for c in change.added] == [("RESOURCE", "write"), ("TOOL", "delete")]
    assert [(c["kind"], c["name"]) for c in change.removed] == [("TOOL", "write"), ("PROMPT", "write")]
    assert not diff(after, list(after))


def test_a_tool_is_granted_as_an_mcp_capability():
    assert tool_capability("search_docs") == "mcp:search_docs"
    assert tool_capability("Read File/v2") == "mcp:read_file_v2"


def test_what_people_and_sdks_send_is_checked_and_each_kept_once():
    kept = declared([{"kind": "TOOL", "name": " run "}, {"kind": "TOOL", "name": "run"}], "capabilities")
    assert kept == [{"kind": "TOOL", "name": "run", "description": None}]
    assert item("TOOL", "t", "x" * 5000)["description"] == "x" * 2000
    for bad in ({"kind": "TOOL", "name": ""}, {"kind": "SPELL", "name": "x"}, {"kind": "TOOL", "name": "x" * 201}):
        with pytest.raises(BadUserInput):
            declared([bad], "capabilities")
    with pytest.raises(BadUserInput):
        declared([{"kind": "TOOL", "name": f"t{n}"} for n in range(MAX_DECLARED + 1)], "capabilities")
