"""The package's shape: every module imports on its own, imports form no circle, and they run one way
(the API's layers call the domains; the domains never reach back into GraphQL or delivery)."""

from __future__ import annotations

import ast
import asyncio
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "aim_identity"
# How answers reach clients; the domains under them must work without any of it.
API_LAYERS = (
    "aim_identity.api",
    "aim_identity.app",
    "aim_identity.cli",
    "aim_identity.schema",
    "aim_identity.resolvers",
    "aim_identity.delivery",
)
GRAPHQL_LIBRARIES = ("strawberry", "graphql")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import that runs, at module level or inside a function; those for type checkers alone
    (`if TYPE_CHECKING:`) never run and are left out."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append(child)
            visit(child)

    visit(tree)
    return found


def imports_of(name: str) -> set[str]:
    """The modules (of the package, and outside it by their top name) that `name` imports when it runs."""
    path = MODULES[name]
    targets: set[str] = set()
    for node in _runtime_imports(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:  # relative: from the module's own package
            package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
            base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
        targets.add(base)
        targets.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)
    return {t if t.startswith("aim_identity") else t.split(".")[0] for t in targets}


GRAPH = {name: {t for t in imports_of(name) if t in MODULES and t != name} for name in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            connect(node)
    return found


def reachable(name: str) -> set[str]:
    seen, todo = set(), [name]
    while todo:
        for target in GRAPH[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_the_import_graph_is_read_whole():
    assert len(MODULES) > 60
    assert "aim_identity.schema.agents.types" in GRAPH["aim_identity.schema.mcp.types"]
    assert "aim_identity.audit.chain" in GRAPH["aim_identity.unit_of_work"]
    # The finder must see a circle where there is one, and the type checker's imports must not count.
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "aim_identity.schema.mcp.types" not in GRAPH["aim_identity.schema.agents.types"]


def test_no_import_circle_between_modules():
    assert cycles(GRAPH) == []


def test_domains_never_reach_into_graphql_or_delivery():
    domains = [name for name in MODULES if not name.startswith(API_LAYERS)]
    assert "aim_identity.identity.challenges" in domains and "aim_identity.unit_of_work" in domains
    offenders = {}
    for name in domains:
        # What a domain reaches is a domain too (checked in its turn), or an API layer.
        direct = {t for t in imports_of(name) if t in GRAPHQL_LIBRARIES}
        layered = {t for t in reachable(name) if t.startswith(API_LAYERS)}
        if direct or layered:
            offenders[name] = sorted(direct | layered)
    assert offenders == {}


def test_only_the_application_and_the_cli_compose_the_schema():
    importers = {name for name, targets in GRAPH.items() if "aim_identity.api" in targets}
    assert importers == {"aim_identity.app", "aim_identity.cli"}


# Run in a process of its own: the third-party libraries load once, then each module of the package is
# imported in a fork made before any module of the package was loaded, so each starts from nothing of
# ours, as a fresh interpreter would, without paying for the libraries' start-up ninety times.
IMPORT_EACH = """
import importlib, os, sys, traceback
for library in ("strawberry", "graphql", "tortoise", "pydantic_settings", "starlette", "uvicorn", "nacl", "jwt",
                "redis", "broadcaster", "asyncpg", "cryptography", "rfc8785", "pyotp"):
    importlib.import_module(library)
assert not any(name.startswith("aim_identity") for name in sys.modules)
running = {}
for name in sys.argv[1:] + [None] * os.cpu_count():
    if len(running) >= os.cpu_count() or name is None and running:
        child, status = os.wait()
        print(running.pop(child), os.waitstatus_to_exitcode(status), flush=True)
    if name is None:
        continue
    child = os.fork()
    if child == 0:
        try:
            importlib.import_module(name)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    running[child] = name
"""


async def test_every_module_imports_on_its_own_in_a_fresh_interpreter():
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        IMPORT_EACH,
        *MODULES,
        cwd=PACKAGE.parent,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 300)
    assert process.returncode == 0, err.decode()
    codes = dict(line.rsplit(" ", 1) for line in out.decode().splitlines())
    assert codes.keys() == MODULES.keys()
    assert {name for name, code in codes.items() if code != "0"} == set(), err.decode()[-5000:]
