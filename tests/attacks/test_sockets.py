"""A revoked or demoted credential ends its socket: the subscriptions it held are completed, and the
socket, whose principal was fixed at connection_init, streams nothing more. Every `subscribe` checks
the credential again, and one that fails closes the socket with 4403."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.support import LOGIN, PASSWORD, Api, Org, create_agent

AGENT_EVENTS = "subscription { agentEvents { kind agentId } }"


async def open_socket(url: str, auth: dict):
    socket = await websockets.connect(url.replace("http://", "ws://"), subprotocols=["graphql-transport-ws"])
    await socket.send(json.dumps({"type": "connection_init", "payload": auth}))
    assert json.loads(await asyncio.wait_for(socket.recv(), 2))["type"] == "connection_ack"
    return socket


async def subscribe(socket, operation_id: str) -> None:
    await socket.send(json.dumps({"id": operation_id, "type": "subscribe", "payload": {"query": AGENT_EVENTS}}))
    await asyncio.sleep(0.3)


async def frames_until_closed(socket, timeout: float = 3.0) -> tuple[list[dict], int]:
    """Every frame the socket still receives, and the code it is then closed with."""
    frames = []
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            frames.append(json.loads(await asyncio.wait_for(socket.recv(), timeout)))
    return frames, closed.value.rcvd.code


async def after_the_credential_ends(org: Org, socket, end) -> None:
    await subscribe(socket, "1")
    await create_agent(org.admin.api)
    assert json.loads(await asyncio.wait_for(socket.recv(), 2))["type"] == "next"
    await end()
    # What it held is completed (events of the same mutations may arrive before that).
    while (frame := json.loads(await asyncio.wait_for(socket.recv(), 3)))["type"] != "complete":
        assert frame["type"] == "next"
    assert frame == {"id": "1", "type": "complete"}
    # Subscribing again on the same socket: refused, and the socket closed; nothing streams.
    await subscribe(socket, "2")
    await create_agent(org.admin.api)
    frames, code = await frames_until_closed(socket)
    assert (frames, code) == ([], 4403)


async def test_a_revoked_api_key(org: Org, url: str):
    created = (
        await org.admin.api("""mutation { createApiKey(input: {name: "feed", role: VIEWER}) {
      secret apiKey { id } } }""")
    )["createApiKey"]
    socket = await open_socket(url, {"X-API-Key": created["secret"]})

    async def revoke() -> None:
        await org.admin.api(
            "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { apiKey { id } } }",
            i={"id": created["apiKey"]["id"]},
        )

    await after_the_credential_ends(org, socket, revoke)


async def test_a_session_logged_out(org: Org, url: str):
    person = await org.member("VIEWER")
    socket = await open_socket(url, {"Authorization": f"Bearer {person.api.token}"})

    async def log_out() -> None:
        await person.api("mutation { logout(input: {}) { ok } }")

    await after_the_credential_ends(org, socket, log_out)


async def test_a_demoted_user(org: Org, url: str):
    manager = await org.member("MANAGER")
    socket = await open_socket(url, {"Authorization": f"Bearer {manager.api.token}"})

    async def demote() -> None:
        await org.admin.api(
            "mutation($i: UpdateUserRoleInput!) { updateUserRole(input: $i) { user { role } } }",
            i={"userId": manager.user_id, "role": "VIEWER"},
        )

    await after_the_credential_ends(org, socket, demote)
    # The same token opens a new socket, at the new role.
    socket = await open_socket(url, {"Authorization": f"Bearer {manager.api.token}"})
    await subscribe(socket, "again")
    await create_agent(org.admin.api)
    assert json.loads(await asyncio.wait_for(socket.recv(), 2))["type"] == "next"
    await socket.close()


async def test_a_password_login_cannot_reopen_an_ended_session(org: Org, url: str):
    """Control: logging in again gives a new session that streams; only the ended one is dead."""
    person = await org.member("VIEWER")
    await person.api("mutation { logout(input: {}) { ok } }")
    fresh = (await Api(url)(LOGIN, i={"email": person.email, "password": PASSWORD}))["login"]["accessToken"]
    socket = await open_socket(url, {"Authorization": f"Bearer {fresh}"})
    await subscribe(socket, "1")
    await create_agent(org.admin.api)
    assert json.loads(await asyncio.wait_for(socket.recv(), 2))["type"] == "next"
    await socket.close()
