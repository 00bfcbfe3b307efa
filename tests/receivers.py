"""Real HTTP/1.1 receivers on loopback addresses, for the tests of calls AIM makes to user-given URLs:
each counts the connections it accepts and the requests that reach it, and answers as it is told (a
page, a redirect, silence, fifty megabytes)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class Receiver:
    """An HTTP/1.1 server on one loopback address that records what reaches it, and answers with `answer`."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[dict[str, str]] = []  # each request's headers, names lower-cased
        self.sent = 0  # body bytes the answer handed to the socket
        self.finished = asyncio.Event()  # set when the last connection's handler is done
        self.host = ""
        self.port = 0

    async def start(self, host: str) -> None:
        self._server = await asyncio.start_server(self._serve, host, 0)
        self.host, self.port = host, self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.finished.clear()
        try:
            while not reader.at_eof():  # requests, one after another, until the client hangs up
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                fields = (line.partition(":") for line in head.split("\r\n")[1:] if line)
                self.requests.append({name.strip().lower(): value.strip() for name, _, value in fields})
                await self.answer(self, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up
        finally:
            writer.close()
            self.finished.set()

    async def close(self) -> None:
        self._server.close()
        await self._server.wait_closed()


Answer = Callable[[Receiver, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def respond(writer: asyncio.StreamWriter, status: str, body: bytes = b"", *headers: str) -> None:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    await writer.drain()


def ok(body: bytes, *headers: str) -> Answer:
    async def answer(receiver: Receiver, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await respond(writer, "200 OK", body, *headers)

    return answer


def redirect(location: Callable[[], str]) -> Answer:
    async def answer(receiver: Receiver, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await respond(writer, "302 Found", b"", f"Location: {location()}")

    return answer


async def silence(receiver: Receiver, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # until the client gives up and closes


FIFTY_MB = 50 * 1024 * 1024
CHUNK = 64 * 1024


def flood(*headers: str) -> Answer:
    """Fifty megabytes, as fast as the client reads them."""

    async def answer(receiver: Receiver, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = ["HTTP/1.1 200 OK", f"Content-Length: {FIFTY_MB}", "Connection: close", *headers]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        while receiver.sent < FIFTY_MB:
            writer.write(b"x" * CHUNK)
            await writer.drain()  # waits while the client is not reading
            receiver.sent += CHUNK

    return answer


fifty_megabytes = flood()
