"""An agent's identity with AIM, asynchronous: `asecure()` makes or finds it, and then it proves
itself (`verify`), asks before each action (`authorize`, `perform_action`), rotates its key, reports
the MCP servers it uses and fetches tokens for them. `sync.py` wraps it for synchronous code.

The private key never leaves this process except into the key store; AIM receives the public key and
signatures only."""

from __future__ import annotations

import asyncio
import base64
import functools
import inspect
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from nacl.signing import SigningKey

from aim_agent import claude, messages, operations
from aim_agent.connection import Connection
from aim_agent.errors import ActionDenied, AIMError, AIMUnavailable, UnknownIdentity, VerificationFailed
from aim_agent.keys import Store, StoredIdentity, default_store, public_key

log = logging.getLogger("aim_agent")

P = ParamSpec("P")
R = TypeVar("R")

# A cached token is renewed this long before it expires, so that no request carries one that lapses
# on the way.
RENEW_BEFORE = timedelta(seconds=30)
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"

# A value given to the decorator, or a function of the guarded call's arguments that computes it.
Argument = Any | Callable[..., Any]


@dataclass(frozen=True)
class Verification:
    verified: bool
    failure_reason: str | None
    trust_score: float | None  # the agent token's `trust_score`; none when the answer did not verify
    token: str | None
    token_expires_at: datetime | None
    event_id: str


@dataclass(frozen=True)
class Decision:
    id: str
    capability: str
    resource: str | None
    allowed: bool
    reason: str
    risk_level: str
    threat_id: str | None


@dataclass
class _Token:
    value: str
    expires_at: datetime

    def fresh(self) -> bool:
        return datetime.now(UTC) < self.expires_at - RENEW_BEFORE


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _claims(token: str) -> dict[str, Any]:
    """A JWT's claims, read but not checked: AIM checks its own tokens, and the SDK only shows them."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def evaluated(argument: Argument, args: tuple, kwargs: dict) -> Any:
    """A decorator's `resource` or `context` for one call."""
    return argument(*args, **kwargs) if callable(argument) else argument


class AsyncIdentity:
    def __init__(self, connection: Connection, store: Store, stored: StoredIdentity, *, fail_open: bool = False):
        self.connection = connection
        self.store = store
        self._stored = stored
        self.fail_open = fail_open
        self._token: _Token | None = None
        self._renewing = asyncio.Lock()
        self._resource_tokens: dict[tuple[str, str], _Token] = {}
        self._reports: set[asyncio.Task[None]] = set()

    @property
    def agent_id(self) -> str:
        return self._stored.agent_id

    @property
    def name(self) -> str:
        return self._stored.name

    @property
    def public_key(self) -> str:
        return public_key(self._stored.key)

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"<AsyncIdentity {self.name} {self.agent_id} at {self.connection.url}>"

    # ---- verification

    async def verify(self) -> Verification:
        """One challenge-response with the current key. Raises VerificationFailed when AIM does not
        verify it, and UnknownIdentity when AIM no longer knows the agent."""
        outcome = await self._answer_challenge(self._stored.key)
        if not outcome.verified:
            if outcome.failure_reason in {"BAD_SIGNATURE", "KEY_REVOKED"}:
                raise UnknownIdentity(
                    f"AIM does not accept the key stored for {self.name} ({outcome.failure_reason}). "
                    "It was not registered again: rotate it from where it changed, or forget it and choose anew.",
                    outcome.failure_reason,
                )
            raise VerificationFailed(
                f"AIM did not verify {self.name}: {outcome.failure_reason}", outcome.failure_reason
            )
        return outcome

    async def _answer_challenge(self, key: SigningKey) -> Verification:
        try:
            data = await self.connection.execute(operations.CHALLENGE, {"input": {"agentId": self.agent_id}})
        except AIMError as exc:
            if exc.code == "NOT_FOUND":
                raise UnknownIdentity(
                    f"AIM no longer knows the agent {self.name} ({self.agent_id}); it was not registered again.",
                    "NOT_FOUND",
                ) from None
            raise
        challenge = data["requestVerificationChallenge"]
        message = messages.checked_challenge(base64.b64decode(challenge["message"], validate=True), self.agent_id)
        answer = {"challengeId": challenge["id"], "signature": _b64(key.sign(message).signature)}
        found = (await self.connection.execute(operations.VERIFY, {"input": answer}))["verifyAgent"]
        token = found["agentToken"]
        outcome = Verification(
            verified=found["verified"],
            failure_reason=found["failureReason"],
            trust_score=_claims(token)["trust_score"] if token else None,
            token=token,
            token_expires_at=datetime.fromisoformat(found["agentTokenExpiresAt"])
            if found["agentTokenExpiresAt"]
            else None,
            event_id=found["event"]["id"],
        )
        if outcome.token and outcome.token_expires_at:
            self._token = _Token(outcome.token, outcome.token_expires_at)
        return outcome

    async def token(self) -> str:
        """The agent token, verified anew only when the cached one is about to expire."""
        async with self._renewing:
            if self._token is None or not self._token.fresh():
                await self.verify()
            assert self._token is not None  # verify() raised otherwise
            return self._token.value

    # ---- actions

    async def authorize(
        self, capability: str, resource: str | None = None, context: dict[str, Any] | None = None
    ) -> Decision:
        """AIM's decision on one action, signed as PROTOCOL.md's `aim/action/v1`."""
        at = datetime.now(UTC).replace(microsecond=0)
        nonce = _b64(secrets.token_bytes(16))
        message = messages.action(self.agent_id, capability, resource, at, nonce, context)
        request: dict[str, Any] = {
            "agentId": self.agent_id,
            "capability": capability,
            "timestamp": messages.rfc3339(at),
            "nonce": nonce,
            "signature": _b64(self._stored.key.sign(message).signature),
        }
        if resource is not None:
            request["resource"] = resource
        if context is not None:
            request["context"] = context
        found = (await self.connection.execute(operations.AUTHORIZE, {"input": request}))["authorizeAction"]
        threat = found["threat"]
        return Decision(
            found["id"],
            capability,
            resource,
            found["allowed"],
            found["reason"],
            found["riskLevel"],
            threat["id"] if threat else None,
        )

    async def admit(self, capability: str, resource: str | None, context: dict[str, Any] | None) -> Decision | None:
        """The decision that lets an action run. Raises ActionDenied when AIM says no; when AIM cannot
        be reached it raises AIMUnavailable, or, with fail_open, logs that and returns None."""
        try:
            decision = await self.authorize(capability, resource, context)
        except AIMUnavailable as exc:
            if not self.fail_open:
                raise
            log.warning("AIM is unreachable; %s runs unauthorized because fail_open is set: %s", capability, exc)
            return None
        if not decision.allowed:
            raise ActionDenied(decision)
        return decision

    def finish(self, decision: Decision | None, error: BaseException | None) -> None:
        """Reports how an admitted action ended, in the background (on this identity's event loop).
        The report names the exception's class, never its message, which may carry data."""
        if decision is None:
            return
        task = asyncio.get_running_loop().create_task(self._report(decision, error))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def _report(self, decision: Decision, error: BaseException | None) -> None:
        result = {"decisionId": decision.id, "success": error is None}
        if error is not None:
            result["error"] = type(error).__name__
        try:
            await self.connection.execute(operations.REPORT_RESULT, {"input": result}, token=await self.token())
        except AIMError as exc:
            log.warning("could not report the result of %s to AIM: %s", decision.capability, exc)

    def perform_action(
        self, capability: str, *, resource: Argument = None, context: Argument = None
    ) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
        """Guards a coroutine function: it runs only once AIM allows `capability` on `resource`.
        `resource` and `context` may be functions of the call's arguments."""

        def decorate(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
            if not inspect.iscoroutinefunction(function):
                raise TypeError("AsyncIdentity guards coroutine functions; guard plain ones with secure()'s Identity")

            @functools.wraps(function)
            async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
                decision = await self.admit(
                    capability, evaluated(resource, args, kwargs), evaluated(context, args, kwargs)
                )
                try:
                    result = await function(*args, **kwargs)
                except BaseException as exc:
                    self.finish(decision, exc)
                    raise
                self.finish(decision, None)
                return result

            return guarded

        return decorate

    # ---- key rotation

    async def rotate_key(self) -> str:
        """A new key pair, following PROTOCOL.md: the current key signs the new public key. The store
        holds both keys until AIM's answer is known, so a crash at any step leaves a key that works;
        the next `asecure()` settles which one AIM holds. Returns the new public key."""
        token = await self.token()
        new_key = SigningKey.generate()
        rotating = self._stored.rotating(new_key)
        await asyncio.to_thread(self.store.save, rotating)
        signature = self._stored.key.sign(messages.key_rotation(self.agent_id, public_key(new_key))).signature
        request = {"agentId": self.agent_id, "newPublicKey": public_key(new_key), "signature": _b64(signature)}
        try:
            await self.connection.execute(operations.ROTATE_KEY, {"input": request}, token=token)
        except AIMUnavailable:
            raise  # the outcome is unknown: both keys stay until it is settled
        except AIMError:
            await asyncio.to_thread(self.store.save, self._stored)  # refused: the current key stays
            raise
        await self._keep(rotating.settled(new_key))
        return public_key(new_key)

    async def _keep(self, stored: StoredIdentity) -> None:
        await asyncio.to_thread(self.store.save, stored)
        if stored.key != self._stored.key:
            # Tokens name the key they were issued for (cnf), and AIM ends them when it changes.
            self._token = None
            self._resource_tokens.clear()
        self._stored = stored

    async def settle_rotation(self) -> bool:
        """After a rotation that did not finish, keeps the key AIM holds and forgets the other. AIM's
        record is read with the API key when there is one; otherwise the pending key answers a challenge
        first (if AIM never switched, that is one failed verification of a key AIM has never seen,
        where answering with a retired key would be credential misuse). True when settling verified
        the agent on the way."""
        pending = self._stored.pending
        if pending is None:
            return False
        if self.connection.api_key:
            data = await self.connection.execute(operations.AGENT, {"id": self.agent_id}, with_api_key=True)
            held = (data["agent"] or {}).get("publicKey")
            keys = [k for k in (pending, self._stored.key) if public_key(k) == held]
            if not keys:
                raise UnknownIdentity(f"AIM holds neither of the keys stored for {self.name}")
            await self._keep(self._stored.settled(keys[0]))
            return False
        for key in (pending, self._stored.key):
            if (await self._answer_challenge(key)).verified:
                token = self._token
                await self._keep(self._stored.settled(key))
                self._token = token
                return True
        raise UnknownIdentity(f"AIM accepts neither of the keys stored for {self.name}")

    # ---- reading and reporting

    async def status(self) -> dict[str, Any]:
        """The agent as AIM sees it: status, key fingerprint, trust score, capabilities."""
        data = await self.connection.execute(operations.AGENT, {"id": self.agent_id}, token=await self.token())
        return data["agent"]

    async def detect_mcp_servers(self, config: str | Path | None = None, *, list_tools: bool = True) -> list[dict]:
        """Reports the MCP servers in Claude Desktop's configuration (PROTOCOL.md's places, or `config`)
        through `reportDetectedMCPServers`, with each stdio server's tools listed locally when the `mcp`
        extra is installed. `env` values are used to start a server here, never sent. Returns what AIM
        registered."""
        servers = claude.read_configs(claude.config_paths(config))
        if not servers:
            return []
        reported = []
        for server in servers:
            entry = server.reported()
            if list_tools and server.command:
                entry["capabilities"] = await claude.local_capabilities(server)
            reported.append(entry)
        request = {"agentId": self.agent_id, "servers": reported, "source": "claude_desktop_config"}
        data = await self.connection.execute(operations.REPORT_MCP, {"input": request}, token=await self.token())
        return data["reportDetectedMCPServers"]["registered"]

    async def mcp_token(self, resource_url: str, scope: Iterable[str] = ()) -> str:
        """An access token for the MCP server at `resource_url` (RFC 8693 exchange of the agent token,
        RFC 8707 resource), cached until shortly before it expires."""
        scopes = " ".join(sorted(scope))
        cached = self._resource_tokens.get((resource_url, scopes))
        if cached is not None and cached.fresh():
            return cached.value
        form = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": await self.token(),
            "subject_token_type": JWT_TOKEN_TYPE,
            "resource": resource_url,
        }
        if scopes:
            form["scope"] = scopes
        body = await self.connection.post_form("/oauth/token", form)
        issued = _Token(body["access_token"], datetime.now(UTC) + timedelta(seconds=int(body["expires_in"])))
        self._resource_tokens[(resource_url, scopes)] = issued
        return issued.value

    async def flush(self) -> None:
        """Waits until every pending result report has been sent."""
        if self._reports:
            await asyncio.gather(*self._reports, return_exceptions=True)

    async def close(self) -> None:
        """Sends the pending result reports, then closes the connection."""
        await self.flush()
        await self.connection.close()

    async def __aenter__(self) -> AsyncIdentity:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def asecure(
    name: str,
    *,
    url: str,
    api_key: str | None = None,
    capabilities: Iterable[str] = (),
    agent_type: str | None = None,
    description: str | None = None,
    store: Store | str | None = None,
    fail_open: bool = False,
    timeout: float = 10.0,
    register: bool = True,
) -> AsyncIdentity:
    """The agent `name` with AIM at `url`, proven by a first challenge-response. The first time, it
    generates an Ed25519 key here, keeps it in the key store and registers only the public key (with
    `api_key`, MEMBER or above); afterwards it finds the stored identity and registers nothing. With
    `register=False` an identity must be stored already."""
    connection = Connection(url, api_key=api_key, timeout=timeout)
    keys = store if store is not None and not isinstance(store, str) else default_store(store)
    try:
        stored = await asyncio.to_thread(keys.load, connection.url, name)
        if stored is None and not register:
            raise UnknownIdentity(f"no identity is stored for {name} on this machine for {connection.url}")
        if stored is None or not stored.agent_id:
            request: dict[str, Any] = {"name": name, "capabilities": list(capabilities)}
            if agent_type:
                request["agentType"] = agent_type
            if description:
                request["description"] = description
            stored = await _register(connection, keys, stored, request)
        identity = AsyncIdentity(connection, keys, stored, fail_open=fail_open)
        if not await identity.settle_rotation():
            await identity.verify()
        return identity
    except BaseException:
        await connection.close()
        raise


async def _register(
    connection: Connection, keys: Store, unfinished: StoredIdentity | None, request: dict[str, Any]
) -> StoredIdentity:
    """Registers the agent. The key is stored before AIM hears of it, so an interrupted registration
    is finished next time with the same key, never with a second agent."""
    name = request["name"]
    if not connection.api_key:
        raise AIMError(f"no identity is stored for {name}: registering it needs an API key", "UNAUTHENTICATED")
    stored = unfinished or StoredIdentity(connection.url, name, "", SigningKey.generate())
    if unfinished is None:
        await asyncio.to_thread(keys.save, stored)
    request = {**request, "publicKey": public_key(stored.key)}
    try:
        data = await connection.execute(operations.CREATE_AGENT, {"input": request}, with_api_key=True)
        agent_id = data["createAgent"]["agent"]["id"]
    except AIMError as exc:
        if exc.code != "CONFLICT" or unfinished is None:
            raise
        agent_id = await _registered_with(connection, name, public_key(stored.key))
    registered = StoredIdentity(connection.url, name, agent_id, stored.key)
    await asyncio.to_thread(keys.save, registered)
    return registered


async def _registered_with(connection: Connection, name: str, key: str) -> str:
    """The id of the agent `name` that an interrupted registration created with `key`."""
    data = await connection.execute(operations.AGENTS_NAMED, {"search": name}, with_api_key=True)
    for edge in data["agents"]["edges"]:
        if edge["node"]["name"] == name and edge["node"]["publicKey"] == key:
            return edge["node"]["id"]
    raise AIMError(f"an agent named {name} already exists with a key this machine does not hold", "CONFLICT")
