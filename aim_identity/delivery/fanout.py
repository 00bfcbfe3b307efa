"""Live delivery, shared within each API process.

Each organization's channel is read once per process. Subscribers who sent the same document with the
same variables and see the data the same way (organization, kind of caller, role, agent) form a group:
its subscription runs once, and each result is encoded once and sent to every member as a ready
frame, so a delivery costs a socket write rather than an execution. What stays per subscriber is its
own: the credential, which ends the subscription when it expires, and which is checked again whenever
the channel carries a credential change, before any later event is delivered."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from strawberry.types.execution import PreExecutionError

from aim_identity import row_security
from aim_identity.auth.principal import Principal, still_valid
from aim_identity.events import kinds
from aim_identity.schema.core.context import Context

if TYPE_CHECKING:
    import strawberry
    from graphql import GraphQLFormattedError
    from strawberry.subscriptions.protocols.graphql_transport_ws.types import CompleteMessage, ErrorMessage

    from aim_identity.auth.keyring import Keyring
    from aim_identity.config import Settings
    from aim_identity.events.broker import Broker

log = logging.getLogger(__name__)

# A subscriber whose socket accepts nothing for this long is dropped rather than holding up the rest.
SEND_DEADLINE_S = 5.0
UNAVAILABLE: GraphQLFormattedError = {
    "message": "Live events are unavailable; subscribe again",
    "extensions": {"code": "INTERNAL_SERVER_ERROR"},
}


class Connection(Protocol):
    """The WebSocket side of a subscription (app.SubscriptionsOnly)."""

    async def send_frame(self, frame: str) -> None: ...
    async def finish(self, operation_id: str, message: CompleteMessage | ErrorMessage) -> None: ...
    def drop(self, reason: str) -> None: ...


@dataclass(eq=False)
class Member:
    connection: Connection
    operation_id: str
    principal: Principal
    group: Group | None  # None once it has left
    next_prefix: str = ""
    expiry: asyncio.TimerHandle | None = None

    def __post_init__(self) -> None:
        self.next_prefix = '{"id":' + json.dumps(self.operation_id) + ',"type":"next","payload":'

    def expired(self, now: float) -> bool:
        return self.principal.expires_at is not None and self.principal.expires_at <= now


class Feed:
    """A group's events in channel order; the group's subscription reads it as `Context.feed`."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def put(self, event: dict[str, Any]) -> None:
        self.queue.put_nowait(event)

    def close(self) -> None:
        """Ends the subscription reading this feed once it has taken what is queued (no cancellation,
        which would leave strawberry's stream half-closed)."""
        self.queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self

    async def __anext__(self) -> dict[str, Any]:
        event = await self.queue.get()
        if event is None:
            raise StopAsyncIteration
        return event


@dataclass(eq=False)
class Group:
    key: tuple
    channel: Channel
    payload: dict[str, Any]
    context: Context  # the subscription's, reading `feed`
    feed: Feed
    members: dict[tuple[int, str], Member] = field(default_factory=dict)
    task: asyncio.Task | None = None

    async def run(self) -> None:
        fanout = self.channel.fanout
        error: list[GraphQLFormattedError] | None = None
        try:
            stream = await fanout.schema.subscribe(
                self.payload["query"],
                variable_values=self.payload.get("variables"),
                context_value=self.context,
                operation_name=self.payload.get("operationName"),
            )
            async with contextlib.aclosing(stream):
                async for result in stream:
                    if isinstance(result, PreExecutionError):
                        assert result.errors is not None  # what makes it a pre-execution error
                        error = [e.formatted for e in result.errors]
                        break
                    await self.deliver(json.dumps(_next_payload(result), separators=(",", ":")))
        except Exception:
            log.exception("subscription group failed: %s", self.payload.get("query"))
            error = [UNAVAILABLE]
        finally:
            self.close()
            for member in list(self.members.values()):
                final: ErrorMessage | None = (
                    {"id": member.operation_id, "type": "error", "payload": error} if error else None
                )
                await fanout.end(member, final)

    def close(self) -> None:
        """No more members will join or hear it: a newcomer with the same document starts afresh."""
        self.channel.forget(self)
        self.feed.close()
        self.channel.release()

    async def deliver(self, payload: str) -> None:
        members = list(self.members.values())
        now, position = time.time(), 0
        while position < len(members):
            # One deadline per round rather than a timer per write: a healthy write never waits, so a
            # round that runs out of time is waiting on the member being written to.
            try:
                async with asyncio.timeout(SEND_DEADLINE_S):
                    while position < len(members):
                        member = members[position]
                        position += 1
                        if member.group is not self:
                            continue  # it left while an earlier member was being written to
                        if member.expired(now):
                            await self.channel.fanout.end(member)
                            continue
                        try:
                            await member.connection.send_frame(member.next_prefix + payload + "}")
                        except Exception:
                            self.channel.fanout.leave(member.connection, member.operation_id)
            except TimeoutError:
                member = members[position - 1]
                self.channel.fanout.leave(member.connection, member.operation_id)
                member.connection.drop("not reading its events")


def _next_payload(result: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [e.formatted for e in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return payload


@dataclass(eq=False)
class Channel:
    """One organization's events in this process, read once and handed to each group in order."""

    fanout: Fanout
    organization_id: Any
    groups: dict[tuple, Group] = field(default_factory=dict)
    task: asyncio.Task | None = None

    async def run(self) -> None:
        try:
            async with self.fanout.broker.events(self.organization_id) as events:
                async for event in events:
                    if event["kind"] in kinds.CREDENTIAL:
                        await self.recheck()
                    for group in list(self.groups.values()):
                        group.feed.put(event)
        except Exception:  # the broker, or the database a credential check needs: fail closed
            log.exception("the event channel of organization %s failed", self.organization_id)
            error = [UNAVAILABLE]
            for group in list(self.groups.values()):
                for member in list(group.members.values()):  # the last one to leave closes the group
                    await self.fanout.end(member, {"id": member.operation_id, "type": "error", "payload": error})

    def forget(self, group: Group) -> None:
        if self.groups.get(group.key) is group:
            del self.groups[group.key]

    async def recheck(self) -> None:
        """Ends every subscription whose credential was revoked or whose role changed (its group was
        built for the old role); each distinct credential is read once."""
        members = [m for g in list(self.groups.values()) for m in g.members.values()]
        principals = list({m.principal for m in members})
        # Concurrently: the connection pool bounds how many run at once.
        verdicts = dict(
            zip(
                principals,
                await asyncio.gather(*(still_valid(p) for p in principals)),
                strict=True,
            )
        )
        for member in members:
            now = verdicts[member.principal]
            if now is None or now.role != member.principal.role or now.must_enroll_mfa:
                await self.fanout.end(member)

    def release(self) -> None:
        if not self.groups and self.fanout.channels.get(self.organization_id) is self:
            del self.fanout.channels[self.organization_id]
            if self.task is not None and self.task is not asyncio.current_task():
                self.task.cancel()


class Fanout:
    def __init__(self, schema: strawberry.Schema, broker: Broker, keyring: Keyring, settings: Settings) -> None:
        self.schema, self.broker, self.keyring, self.settings = schema, broker, keyring, settings
        self.channels: dict[Any, Channel] = {}
        self.members: dict[tuple[int, str], Member] = {}
        self.expiring: set[asyncio.Task] = set()  # held so that they are not collected mid-way

    def join(self, connection: Connection, operation_id: str, payload: dict[str, Any], principal: Principal) -> None:
        """Registers at once: the subscription hears every event the channel delivers from now on."""
        organization_id = principal.organization_id
        channel = self.channels.get(organization_id)
        if channel is None:
            channel = self.channels[organization_id] = Channel(self, organization_id)
            with row_security.organization(organization_id):  # its task reads only its organization's rows
                channel.task = asyncio.create_task(channel.run())
        key = (
            principal.kind,
            principal.role,
            principal.agent_id,
            payload["query"],
            payload.get("operationName"),
            json.dumps(payload.get("variables"), sort_keys=True),
        )
        group = channel.groups.get(key)
        if group is None:
            feed = Feed()
            context = Context(
                settings=self.settings,
                keyring=self.keyring,
                principal=principal,
                ip_address=None,
                user_agent=None,
                feed=feed,
            )
            group = channel.groups[key] = Group(key, channel, payload, context, feed)
            with row_security.organization(organization_id):
                group.task = asyncio.create_task(group.run())
        member = Member(connection, operation_id, principal, group)
        if principal.expires_at is not None:
            delay = principal.expires_at - time.time()
            member.expiry = asyncio.get_running_loop().call_later(max(delay, 0), self._expire, member)
        group.members[id(connection), operation_id] = self.members[id(connection), operation_id] = member

    def _expire(self, member: Member) -> None:
        if self.members.get((id(member.connection), member.operation_id)) is member:
            task = asyncio.create_task(self.end(member))
            self.expiring.add(task)
            task.add_done_callback(self.expiring.discard)

    async def end(self, member: Member, final: ErrorMessage | None = None) -> None:
        """Ends one subscription from the server side: `complete`, or the `error` that ended it."""
        if self.leave(member.connection, member.operation_id) is member:
            try:
                async with asyncio.timeout(SEND_DEADLINE_S):  # a stuck socket must not hold up the channel
                    await member.connection.finish(
                        member.operation_id, final or {"id": member.operation_id, "type": "complete"}
                    )
            except TimeoutError:
                member.connection.drop("not reading its events")
            except Exception:
                pass

    def leave(self, connection: Connection, operation_id: str) -> Member | None:
        member = self.members.pop((id(connection), operation_id), None)
        if member is None:
            return None
        if member.expiry is not None:
            member.expiry.cancel()
        group = member.group
        assert group is not None  # a member leaves its group once, here
        group.members.pop((id(connection), operation_id), None)
        member.group = None
        if not group.members:
            group.close()
        return member
