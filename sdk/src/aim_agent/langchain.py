"""A guard for LangChain tools: `guard(tool, identity)` is the same tool (name, description,
arguments) whose every invocation goes through `perform_action` first. A denied call raises
ActionDenied: the tool does not run and returns nothing. Needs the `langchain` extra."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool, StructuredTool

from aim_agent.identity import Argument, AsyncIdentity
from aim_agent.sync import Identity


def guard(
    tool: BaseTool,
    identity: Identity | AsyncIdentity,
    *,
    capability: str | None = None,
    resource: Argument = None,
    context: Argument = None,
) -> StructuredTool:
    """`capability` defaults to `tool:<tool name>`; `resource` and `context` may be functions of the
    tool's arguments. An AsyncIdentity guards the asynchronous invocation only."""
    capability = capability or f"tool:{tool.name}"
    guarded = identity.perform_action(capability, resource=resource, context=context)

    async def run_async(**arguments: Any) -> Any:
        return await tool.ainvoke(arguments)

    def run(**arguments: Any) -> Any:
        return tool.invoke(arguments)

    return StructuredTool.from_function(
        func=guarded(run) if isinstance(identity, Identity) else None,
        coroutine=guarded(run_async),
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_schema,
        return_direct=tool.return_direct,
    )
