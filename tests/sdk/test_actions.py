"""`perform_action`: a guarded function runs only once AIM allows it, in every mode; its outcome is
reported; an unreachable AIM fails closed unless fail-open was asked for, and then it says so."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest

from aim_agent import ActionDenied, AIMUnavailable, AsyncIdentity, Identity, asecure, secure
from aim_agent.connection import Connection
from aim_identity import ids
from aim_identity.models import ActionDecision
from tests.conftest import free_port
from tests.support import eventually

CAPABILITIES = ["db:read", "files:*"]


@pytest.fixture
async def agent(api_key, store, server) -> AsyncIdentity:
    identity = await asecure("actor", url=server, api_key=api_key, capabilities=CAPABILITIES, store=store)
    yield identity
    await identity.close()


async def decision(decision_id: str) -> ActionDecision:
    return await ActionDecision.get(id=ids.decode(decision_id, "ActionDecision"))


async def reported(decision_id: str) -> ActionDecision:
    async def done() -> bool:
        return (await decision(decision_id)).reported_at is not None

    await eventually(done)
    return await decision(decision_id)


async def test_an_allowed_action_runs_and_its_success_is_reported(agent: AsyncIdentity):
    seen: list[tuple] = []

    @agent.perform_action(capability="files:write", resource=lambda path, data: path)
    async def write(path: str, data: dict) -> str:
        seen.append((path, data))
        return "written"

    assert await write("/srv/q4.csv", {"rows": 3}) == "written"
    assert seen == [("/srv/q4.csv", {"rows": 3})]
    decided = await ActionDecision.filter(agent_id=ids.decode(agent.agent_id, "Agent")).order_by("-created_at").first()
    assert decided is not None and decided.allowed and decided.resource == "/srv/q4.csv"
    final = await reported(ids.encode("ActionDecision", decided.id))
    assert final.succeeded is True and final.error is None


async def test_a_failure_is_reported_by_its_class_without_its_message(agent: AsyncIdentity):
    @agent.perform_action(capability="db:read", resource="invoices")
    async def read() -> None:
        raise LookupError("customer 4411 card 4111-1111-1111-1111")

    with pytest.raises(LookupError):
        await read()
    decided = await ActionDecision.filter(agent_id=ids.decode(agent.agent_id, "Agent")).order_by("-created_at").first()
    assert decided is not None
    final = await reported(ids.encode("ActionDecision", decided.id))
    assert final.succeeded is False and final.error == "LookupError"


async def test_a_context_with_floats_and_non_ascii_text_verifies_as_signed(agent: AsyncIdentity):
    context = {"amount": 1234.5, "ratio": 1e-7, "payee": "Zürich Café ☕", "items": [0.1, {"b": 2.0, "a": None}]}
    answer = await agent.authorize("db:read", "ledger/2026", context)
    assert answer.allowed, answer.reason


def guarded_functions(identity: Identity | AsyncIdentity, capability: str, ran: list[str]):
    """The ways a function can be guarded: a plain one and a coroutine with the synchronous Identity,
    a coroutine with the AsyncIdentity."""
    if isinstance(identity, Identity):

        @identity.perform_action(capability=capability, resource="x")
        def plain() -> str:
            ran.append("plain")
            return "output"

        @identity.perform_action(capability=capability, resource="x")
        async def coroutine() -> str:
            ran.append("coroutine")
            return "output"

        return {"plain": plain, "coroutine": coroutine}

    @identity.perform_action(capability=capability, resource="x")
    async def asynchronous() -> str:
        ran.append("asynchronous")
        return "output"

    return {"asynchronous": asynchronous}


async def call(function) -> str:
    if asyncio.iscoroutinefunction(function):
        return await function()
    return await asyncio.to_thread(function)  # the server runs on this loop: block another thread


@pytest.mark.parametrize("fail_open", [False, True])
async def test_a_denied_action_never_runs_in_any_mode(api_key, store, server, fail_open):
    ran: list[str] = []
    synchronous = await asyncio.to_thread(
        secure, "denied-sync", url=server, api_key=api_key, capabilities=["db:read"], store=store, fail_open=fail_open
    )
    asynchronous = await asecure(
        "denied-async", url=server, api_key=api_key, capabilities=["db:read"], store=store, fail_open=fail_open
    )
    try:
        functions = guarded_functions(synchronous, "db:drop", ran) | guarded_functions(asynchronous, "db:drop", ran)
        for mode, function in functions.items():
            with pytest.raises(ActionDenied) as raised:
                await call(function)
            assert isinstance(raised.value, PermissionError), mode
            denial = raised.value.decision
            assert not denial.allowed and "outside" in denial.reason and denial.threat_id is not None, mode
        assert ran == []
        # The same functions, allowed, do run.
        allowed = guarded_functions(synchronous, "db:read", ran) | guarded_functions(asynchronous, "db:read", ran)
        assert [await call(f) for f in allowed.values()] == ["output"] * 3
        assert ran == ["plain", "coroutine", "asynchronous"]
    finally:
        await asyncio.to_thread(synchronous.close)
        await asynchronous.close()


async def test_an_unreachable_aim_fails_closed_by_default_and_open_only_when_asked(agent: AsyncIdentity, caplog):
    nowhere = Connection(f"http://127.0.0.1:{free_port()}", timeout=2)
    ran: list[str] = []
    for fail_open in (False, True):
        cut_off = AsyncIdentity(nowhere, agent.store, agent._stored, fail_open=fail_open)
        (guarded,) = guarded_functions(cut_off, "db:read", ran).values()
        if not fail_open:
            with pytest.raises(AIMUnavailable, match="did not answer"):
                await guarded()
            assert ran == []
        else:
            with caplog.at_level(logging.WARNING, logger="aim_agent"):
                assert await guarded() == "output"
            assert ran == ["asynchronous"]
            assert "runs unauthorized because fail_open is set" in caplog.text
    await nowhere.close()


async def test_a_program_that_never_closes_its_identity_still_reports_its_last_action(api_key, store, server):
    script = f"""
from pathlib import Path
from aim_agent import FileStore, secure
identity = secure("exits", url={server!r}, api_key={api_key!r}, capabilities=["db:read"],
                  store=FileStore(Path({str(store.directory)!r})))
identity.perform_action(capability="db:read")(lambda: None)()
print(identity.agent_id)
"""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    decided = await ActionDecision.get(agent_id=ids.decode(out.decode().strip(), "Agent"))
    assert decided.reported_at is not None and decided.succeeded is True
