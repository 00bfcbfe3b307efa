"""Admission control: at most N requests run at once, the rest are served in arrival order, and
WebSockets are never held back."""

from __future__ import annotations

import asyncio

import httpx

from aim_identity.admission import Admission


class Recorder:
    """An ASGI app that reads the body, takes a while per request and records how many ran at once,
    and in what order."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.started: list[str] = []

    async def __call__(self, scope, receive, send) -> None:
        while (await receive()).get("more_body"):
            pass
        self.running += 1
        self.most = max(self.most, self.running)
        self.started.append(scope["path"])
        await asyncio.sleep(0.02)
        self.running -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def test_at_most_the_limit_run_and_the_rest_wait_in_arrival_order():
    app = Recorder()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=Admission(app, 2)), base_url="http://aim") as client:
        requests = []
        for n in range(8):
            requests.append(asyncio.create_task(client.get(f"/{n}")))
            await asyncio.sleep(0)  # arrive one after another
        responses = await asyncio.gather(*requests)
    assert all(r.status_code == 200 for r in responses)
    assert app.most == 2
    assert app.started == [f"/{n}" for n in range(8)]


async def test_without_a_limit_nothing_waits():
    app = Recorder()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=Admission(app, 0)), base_url="http://aim") as client:
        await asyncio.gather(*(client.get(f"/{n}") for n in range(5)))
    assert app.most == 5


async def test_websockets_are_not_queued():
    entered = asyncio.Event()
    release = asyncio.Event()

    async def app(scope, receive, send) -> None:
        if scope["type"] == "websocket":
            entered.set()
            return
        await release.wait()

    async def request() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    admission = Admission(app, 1)
    held = asyncio.create_task(admission({"type": "http", "path": "/"}, request, None))
    await asyncio.sleep(0)
    await asyncio.wait_for(admission({"type": "websocket", "path": "/"}, None, None), 1)
    assert entered.is_set()  # got in while the only slot was taken
    release.set()
    await held


async def test_a_slow_body_does_not_hold_a_slot():
    app = Recorder()
    admission = Admission(app, 1)
    more = asyncio.Event()
    responses: list[dict] = []

    async def respond(message: dict) -> None:
        responses.append(message)

    async def dribble():  # the body's first half now, the rest when we say
        yield {"type": "http.request", "body": b"{", "more_body": True}
        await more.wait()
        yield {"type": "http.request", "body": b"}", "more_body": False}

    slow = dribble()
    slow_request = asyncio.create_task(admission({"type": "http", "path": "/slow"}, slow.__anext__, respond))
    await asyncio.sleep(0.01)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=admission), base_url="http://aim") as client:
        fast = await asyncio.wait_for(client.get("/fast"), 1)  # the only slot is free: nobody holds it
    assert fast.status_code == 200
    assert app.started == ["/fast"]
    more.set()
    await slow_request
    assert app.started == ["/fast", "/slow"]
    assert responses[0]["status"] == 200
