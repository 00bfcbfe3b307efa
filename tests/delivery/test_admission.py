"""Admission control: at most N requests run at once, the rest are served in arrival order up to a
bound, WebSockets are never held back, and oversized bodies are refused."""

from __future__ import annotations

import asyncio

import aiohttp
import httpx

from aim_identity.delivery.admission import Admission


def admit(app, limit: int, max_body_bytes: int = 1 << 20, max_waiting: int = 100) -> Admission:
    return Admission(app, limit, max_body_bytes=max_body_bytes, max_waiting=max_waiting)


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
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=admit(app, 2)), base_url="http://aim") as client:
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
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=admit(app, 0)), base_url="http://aim") as client:
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

    admission = admit(app, 1)
    held = asyncio.create_task(admission({"type": "http", "path": "/"}, request, None))
    await asyncio.sleep(0)
    await asyncio.wait_for(admission({"type": "websocket", "path": "/"}, None, None), 1)
    assert entered.is_set()  # got in while the only slot was taken
    release.set()
    await held


async def test_a_slow_body_does_not_hold_a_slot():
    app = Recorder()
    admission = admit(app, 1)
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


async def test_a_request_that_finds_the_line_full_is_turned_away_and_the_line_is_served():
    app = Recorder()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=admit(app, 1, max_waiting=2)), base_url="http://aim"
    ) as client:
        requests = []
        for n in range(5):  # one runs, two wait, two find the line full
            requests.append(asyncio.create_task(client.get(f"/{n}")))
            await asyncio.sleep(0)
        responses = await asyncio.gather(*requests)
        assert [r.status_code for r in responses] == [200, 200, 200, 503, 503]
        assert responses[3].headers["retry-after"] == "1"
        assert responses[3].json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert app.started == ["/0", "/1", "/2"]
        assert (await client.get("/again")).status_code == 200  # the line has room again


async def test_a_body_over_the_limit_is_refused_before_it_runs():
    app = Recorder()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=admit(app, 1, max_body_bytes=100)), base_url="http://aim"
    ) as client:
        assert (await client.post("/fits", content=b"x" * 100)).status_code == 200
        declared = await client.post("/declared", content=b"x" * 101)

        async def chunks():  # no Content-Length: counted as it arrives
            for _ in range(3):
                yield b"x" * 40

        streamed = await client.post("/streamed", content=chunks())
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert app.started == ["/fits"]


async def test_the_server_refuses_a_body_over_a_mebibyte(url, settings):
    assert settings.max_request_bytes == 1024 * 1024
    query = b'{"query": "{ __typename }", "variables": {"padding": "' + b"x" * settings.max_request_bytes + b'"}}'
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=query, headers={"Content-Type": "application/json"}) as response:
            assert response.status == 413
            assert (await response.json())["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        async with session.post(url, json={"query": "{ __typename }"}) as response:
            assert (await response.json())["data"] == {"__typename": "Query"}


async def test_a_refusal_comes_in_the_media_type_the_client_accepts():
    app = Recorder()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=admit(app, 1, max_body_bytes=10, max_waiting=0)), base_url="http://aim"
    ) as client:
        for accept, answered in (
            ("application/graphql-response+json", "application/graphql-response+json"),
            ("application/json", "application/json"),
            (None, "application/json"),
            ("application/xml", "application/json"),  # a 406 would hide why it was refused
        ):
            headers = {"Accept": accept} if accept else {}
            too_large = await client.post("/large", content=b"x" * 11, headers=headers)
            assert too_large.status_code == 413 and too_large.headers["content-type"] == answered
            running = asyncio.create_task(client.get("/running"))
            await asyncio.sleep(0)
            busy = await client.get("/busy", headers=headers)
            await running
            assert busy.status_code == 503 and busy.headers["content-type"] == answered
            assert busy.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
