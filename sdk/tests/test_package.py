"""The SDK is a distribution of its own: it needs only gql, PyNaCl, keyring and rfc8785, imports
nothing of the server's stack, and ships its type information."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

SDK = Path(__file__).parents[1]
PACKAGE = SDK / "src" / "aim_agent"
# What the package may import: the standard library, its four dependencies and what they bring
# (httpx through gql[httpx], anyio through httpx), and the extras, imported only where used.
ALLOWED = {"aim_agent", "gql", "nacl", "keyring", "rfc8785", "httpx", "anyio", "mcp", "mcp_types", "langchain_core"}
EXTRAS = {"mcp": {"claude.py"}, "mcp_types": {"claude.py"}, "langchain_core": {"langchain.py"}}


def test_the_dependencies_are_the_four_the_sdk_needs():
    project = tomllib.loads((SDK / "pyproject.toml").read_text())["project"]
    names = {d.split("[")[0].split(">")[0].lower() for d in project["dependencies"]}
    assert names == {"gql", "pynacl", "keyring", "rfc8785"}
    assert set(project["optional-dependencies"]) == {"mcp", "langchain"}
    assert (PACKAGE / "py.typed").exists()


def test_no_module_imports_the_server_or_an_undeclared_library():
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = {node.module.split(".")[0]}
            else:
                continue
            for root in roots - sys.stdlib_module_names:
                assert root in ALLOWED, f"{path.name} imports {root}"
                assert root not in EXTRAS or path.name in EXTRAS[root], f"{path.name} imports the extra {root}"
