"""The LangChain guard, with a real `langchain_core.tools.tool`: the allowed call runs and returns
its output; the denied call neither runs nor returns anything."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.tools import tool

from aim_agent import ActionDenied, asecure, secure
from aim_agent.langchain import guard


def tools(ran: list[dict]):
    @tool
    def lookup_invoice(invoice_id: str, include_lines: bool = False) -> str:
        """Look an invoice up by its id."""
        ran.append({"invoice_id": invoice_id, "include_lines": include_lines})
        return f"invoice {invoice_id}: 120.00 EUR"

    return lookup_invoice


async def test_a_guarded_tool_runs_when_allowed_and_not_at_all_when_denied(api_key, store, server):
    ran: list[dict] = []
    identity = await asyncio.to_thread(
        secure, "langchain-agent", url=server, api_key=api_key, capabilities=["invoices:read"], store=store
    )
    try:
        original = tools(ran)
        allowed = guard(original, identity, capability="invoices:read", resource=lambda invoice_id, **_: invoice_id)
        assert (allowed.name, allowed.description, allowed.args) == (original.name, original.description, original.args)
        output = await asyncio.to_thread(allowed.invoke, {"invoice_id": "INV-7", "include_lines": True})
        assert output == "invoice INV-7: 120.00 EUR"
        assert await allowed.ainvoke({"invoice_id": "INV-8"}) == "invoice INV-8: 120.00 EUR"
        assert ran == [{"invoice_id": "INV-7", "include_lines": True}, {"invoice_id": "INV-8", "include_lines": False}]

        denied = guard(original, identity)  # `tool:lookup_invoice`, which the agent was never granted
        ran.clear()
        outputs = []
        with pytest.raises(ActionDenied, match="tool:lookup_invoice"):
            outputs.append(await asyncio.to_thread(denied.invoke, {"invoice_id": "INV-9"}))
        with pytest.raises(ActionDenied):
            outputs.append(await denied.ainvoke({"invoice_id": "INV-9"}))
        assert ran == [] and outputs == []
    finally:
        await asyncio.to_thread(identity.close)


async def test_an_async_identity_guards_the_asynchronous_invocation(api_key, store, server):
    ran: list[dict] = []
    async with await asecure("langchain-async", url=server, api_key=api_key, store=store) as identity:
        denied = guard(tools(ran), identity, capability="invoices:read")
        with pytest.raises(ActionDenied):
            await denied.ainvoke({"invoice_id": "INV-1"})
        assert ran == []
