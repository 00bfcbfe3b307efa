"""The shared fan-out on its own: the real schema and the real in-process broker, with connections
that record what they are sent (the WebSocket side is covered by test_websocket.py)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from aim_identity import ids
from aim_identity.api import build_schema
from aim_identity.auth.principal import Principal
from aim_identity.config import Settings
from aim_identity.delivery import fanout
from aim_identity.delivery.fanout import Fanout
from aim_identity.events.broker import Broker
from aim_identity.models import Role

QUERY = "subscription($id: ID) { agentEvents(agentId: $id) { kind agentId } }"


class Socket:
    """A subscriber's connection as the fan-out sees it; a stuck one never finishes a write."""

    def __init__(self, stuck: bool = False) -> None:
        self.stuck = stuck
        self.frames: list[dict] = []
        self.finished: list[dict] = []
        self.dropped: str | None = None

    async def send_frame(self, frame: str) -> None:
        if self.stuck:
            await asyncio.Event().wait()
        self.frames.append(json.loads(frame))

    async def finish(self, operation_id: str, message: dict) -> None:
        if self.stuck:
            await asyncio.Event().wait()
        self.finished.append(message)

    def drop(self, reason: str) -> None:
        self.dropped = reason


@pytest.fixture
async def hub():
    settings = Settings()
    broker = Broker("memory://")
    await broker.connect()
    hub = Fanout(build_schema(settings), broker, keyring=None, settings=settings)
    yield hub
    groups = [g for c in hub.channels.values() for g in c.groups.values()]
    for member in list(hub.members.values()):
        hub.leave(member.connection, member.operation_id)
    await asyncio.gather(*(g.task for g in groups))  # each ends once its feed is closed
    await broker.disconnect()


def viewer(organization: uuid.UUID, expires_at: int | None = None) -> Principal:
    return Principal("user", organization, Role.VIEWER, user_id=uuid.uuid4(), expires_at=expires_at)


async def publish(hub: Fanout, organization: uuid.UUID, agent_id: str) -> None:
    await hub.broker.publish(
        {
            "id": str(uuid.uuid4()),
            "kind": "agent.created",
            "organizationId": str(organization),
            "occurredAt": "2026-11-27T12:00:00Z",
            "agentId": agent_id,
        }
    )


async def until(condition, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_identical_subscribers_share_one_group_and_each_gets_its_own_id(hub):
    organization, agent = uuid.uuid4(), ids.encode("Agent", uuid.uuid4())
    sockets = [Socket() for _ in range(50)]
    for n, socket in enumerate(sockets):
        hub.join(socket, f"op-{n}", {"query": QUERY, "variables": {"id": agent}}, viewer(organization))
    other = Socket()
    hub.join(other, "op-x", {"query": QUERY, "variables": {"id": None}}, viewer(organization))
    assert len(hub.channels[organization].groups) == 2
    await asyncio.sleep(0.1)
    await publish(hub, organization, agent)
    await until(lambda: all(s.frames for s in [*sockets, other]))
    assert [s.frames for s in sockets] == [
        [
            {
                "id": f"op-{n}",
                "type": "next",
                "payload": {"data": {"agentEvents": {"kind": "agent.created", "agentId": agent}}},
            }
        ]
        for n in range(50)
    ]


async def test_a_subscriber_that_stops_reading_is_dropped_and_the_rest_carry_on(hub, monkeypatch):
    monkeypatch.setattr(fanout, "SEND_DEADLINE_S", 0.2)
    organization, agent = uuid.uuid4(), ids.encode("Agent", uuid.uuid4())
    stuck, healthy = Socket(stuck=True), [Socket() for _ in range(3)]
    for n, socket in enumerate([stuck, *healthy]):
        hub.join(socket, f"op-{n}", {"query": QUERY}, viewer(organization))
    await asyncio.sleep(0.1)
    await publish(hub, organization, agent)
    await publish(hub, organization, agent)
    await until(lambda: all(len(s.frames) == 2 for s in healthy))
    assert stuck.dropped == "not reading its events" and not stuck.frames
    assert (id(stuck), "op-0") not in hub.members


async def test_an_expiring_credential_ends_the_subscription_with_complete(hub):
    organization = uuid.uuid4()
    socket = Socket()
    hub.join(socket, "op-1", {"query": QUERY}, viewer(organization, expires_at=int(time.time()) + 1))
    await until(lambda: socket.finished, timeout=3)
    assert socket.finished == [{"id": "op-1", "type": "complete"}]
    await publish(hub, organization, ids.encode("Agent", uuid.uuid4()))
    await asyncio.sleep(0.2)
    assert socket.frames == []


async def test_a_stuck_subscriber_whose_credential_expires_is_dropped_and_the_rest_carry_on(hub, monkeypatch):
    monkeypatch.setattr(fanout, "SEND_DEADLINE_S", 0.2)
    organization = uuid.uuid4()
    stuck, healthy = Socket(stuck=True), Socket()
    hub.join(stuck, "op-1", {"query": QUERY}, viewer(organization, expires_at=int(time.time()) + 1))
    hub.join(healthy, "op-2", {"query": QUERY}, viewer(organization))
    await until(lambda: stuck.dropped, timeout=3)
    await publish(hub, organization, ids.encode("Agent", uuid.uuid4()))
    await until(lambda: healthy.frames)


async def test_the_last_subscriber_leaving_releases_the_group_and_the_channel(hub):
    organization = uuid.uuid4()
    sockets = [Socket() for _ in range(3)]
    for n, socket in enumerate(sockets):
        hub.join(socket, f"op-{n}", {"query": QUERY}, viewer(organization))
    for n, socket in enumerate(sockets):
        hub.leave(socket, f"op-{n}")
    await until(lambda: organization not in hub.channels)
    assert hub.members == {}
    # and a newcomer with the same document starts a fresh group that hears events
    newcomer = Socket()
    hub.join(newcomer, "op-new", {"query": QUERY}, viewer(organization))
    await asyncio.sleep(0.1)
    await publish(hub, organization, ids.encode("Agent", uuid.uuid4()))
    await until(lambda: newcomer.frames)
