"""Admission control: at most N requests run at once, the rest are served in arrival order, and
WebSockets are never held back."""

from __future__ import annotations

import asyncio

import httpx

from aim_identity.admission import Admission


class Recorder:
    """An ASGI app that takes a while per request and records how many ran at once, and in what order."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.started: list[str] = []

    async def __call__(self, scope, receive, send) -> None:
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

    admission = Admission(app, 1)
    held = asyncio.create_task(admission({"type": "http", "path": "/"}, None, None))
    await asyncio.sleep(0)
    await asyncio.wait_for(admission({"type": "websocket", "path": "/"}, None, None), 1)
    assert entered.is_set()  # got in while the only slot was taken
    release.set()
    await held
