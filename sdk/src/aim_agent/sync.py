"""The synchronous face of the SDK: `secure()` and `Identity` run an AsyncIdentity on an event loop
of their own, in a background thread, so they work from plain code and from inside another event
loop alike. `Identity.perform_action` guards plain functions and coroutine functions both."""

from __future__ import annotations

import asyncio
import atexit
import functools
import inspect
import threading
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from aim_agent.identity import Argument, AsyncIdentity, Decision, Verification, asecure, evaluated

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class _Loop:
    """An event loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="aim-agent", daemon=True)
        self.thread.start()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self.thread:
            raise RuntimeError("a synchronous Identity call was made from its own event loop")
        return self.submit(coroutine).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class Identity:
    """An AsyncIdentity's methods, blocking. Made by `secure()`."""

    def __init__(self, identity: AsyncIdentity, loop: _Loop) -> None:
        self.aio = identity
        self._loop = loop
        # A program that never closes its identity still sends the results of its last actions.
        atexit.register(self.close)

    @property
    def agent_id(self) -> str:
        return self.aio.agent_id

    @property
    def name(self) -> str:
        return self.aio.name

    @property
    def public_key(self) -> str:
        return self.aio.public_key

    def __repr__(self) -> str:
        return f"<Identity {self.name} {self.agent_id} at {self.aio.connection.url}>"

    def verify(self) -> Verification:
        return self._loop.run(self.aio.verify())

    def token(self) -> str:
        return self._loop.run(self.aio.token())

    def authorize(
        self, capability: str, resource: str | None = None, context: dict[str, Any] | None = None
    ) -> Decision:
        return self._loop.run(self.aio.authorize(capability, resource, context))

    def rotate_key(self) -> str:
        return self._loop.run(self.aio.rotate_key())

    def status(self) -> dict[str, Any]:
        return self._loop.run(self.aio.status())

    def detect_mcp_servers(self, config: str | Path | None = None, *, list_tools: bool = True) -> list[dict]:
        return self._loop.run(self.aio.detect_mcp_servers(config, list_tools=list_tools))

    def mcp_token(self, resource_url: str, scope: Iterable[str] = ()) -> str:
        return self._loop.run(self.aio.mcp_token(resource_url, scope))

    def perform_action(
        self, capability: str, *, resource: Argument = None, context: Argument = None
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Guards a function, plain or coroutine: it runs only once AIM allows `capability` on
        `resource`; a denial raises ActionDenied and the function never runs."""

        def decorate(function: Callable[P, R]) -> Callable[P, R]:
            if inspect.iscoroutinefunction(function):

                @functools.wraps(function)
                async def guarded_coroutine(*args: P.args, **kwargs: P.kwargs) -> Any:
                    admitted = self._admit(capability, resource, context, args, kwargs)
                    decision = await asyncio.wrap_future(admitted)
                    try:
                        result = await function(*args, **kwargs)
                    except BaseException as exc:
                        self._finish(decision, exc)
                        raise
                    self._finish(decision, None)
                    return result

                return guarded_coroutine  # type: ignore[return-value]

            @functools.wraps(function)
            def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
                decision = self._admit(capability, resource, context, args, kwargs).result()
                try:
                    result = function(*args, **kwargs)
                except BaseException as exc:
                    self._finish(decision, exc)
                    raise
                self._finish(decision, None)
                return result

            return guarded

        return decorate

    def _admit(
        self, capability: str, resource: Argument, context: Argument, args: tuple, kwargs: dict
    ) -> Future[Decision | None]:
        return self._loop.submit(
            self.aio.admit(capability, evaluated(resource, args, kwargs), evaluated(context, args, kwargs))
        )

    def _finish(self, decision: Decision | None, error: BaseException | None) -> None:
        self._loop.loop.call_soon_threadsafe(self.aio.finish, decision, error)

    def close(self) -> None:
        """Sends the pending result reports, closes the connection and stops the loop."""
        if self._loop.loop.is_closed():
            return
        atexit.unregister(self.close)
        self._loop.run(self.aio.close())
        self._loop.stop()

    def __enter__(self) -> Identity:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _blocking(make: Callable[P, Coroutine[Any, Any, AsyncIdentity]]) -> Callable[P, Identity]:
    """`make`, run on an event loop of the identity's own, with the same arguments."""

    def blocking(*args: P.args, **kwargs: P.kwargs) -> Identity:
        loop = _Loop()
        try:
            identity = loop.run(make(*args, **kwargs))
        except BaseException:
            loop.stop()
            raise
        return Identity(identity, loop)

    return blocking


secure = _blocking(asecure)
secure.__name__ = secure.__qualname__ = "secure"
secure.__doc__ = """`asecure()`, blocking, with the same arguments: the agent `name`, registered the first
time, verified every time."""
