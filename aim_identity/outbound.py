"""The one way AIM calls a URL that a user gave it (an MCP server's, later a webhook's).

Such a URL points wherever its author likes, and AIM calls it from inside its own network:
`http://169.254.169.254/` is the cloud's metadata service (with the machine's credentials),
`http://localhost:6379/` is Redis, and a harmless-looking name can resolve to either, or resolve to a
public address when checked and to a private one a second later (DNS rebinding). So `client()` gives an
httpx2 client whose transport resolves each request's host itself, refuses it in production if any
address is not public (unless `AIM_ALLOW_PRIVATE_TARGETS` allows it), and then connects to the very
address it checked. A redirect is a new request through the same transport, so it is checked the same
way. Timeouts and a cap on the response body apply everywhere, so a slow or endless answer cannot hold
a worker or fill its memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx2

from aim_identity.config import Settings
from aim_identity.errors import BadUserInput

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2000
_SHARED = ipaddress.ip_network("100.64.0.0/10")
# Python's is_private also covers documentation and benchmarking ranges; those read better as "reserved".
_PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))


class OutboundError(Exception):
    """A call to a user-given URL that AIM would not make or finish; the message is for that user."""


class Refused(OutboundError):
    """The target's address may not be called."""


class TooLarge(OutboundError):
    """The response body passed settings.outbound_max_bytes."""


def http_url(value: str, field: str = "url") -> str:
    """A user-given URL AIM may call later: stripped, http or https, with a host, at most 2000 characters,
    no user:password@ part; else BadUserInput(field=field). Returns the stripped URL."""
    url = value.strip()
    if len(url) > MAX_URL_LENGTH:
        raise BadUserInput(f"the URL is longer than {MAX_URL_LENGTH} characters", field=field)
    try:
        # The parser the client will use, so what is accepted here is what is called later.
        parsed = httpx2.URL(url)
    except httpx2.InvalidURL:
        parsed = None
    if (
        parsed is None
        or parsed.scheme not in ("http", "https")
        or not parsed.host
        or any(c.isspace() for c in url)
        or not (parsed.port is None or 0 < parsed.port < 65536)
    ):
        raise BadUserInput(f"{url[:100]!r} is not an http:// or https:// URL with a host", field=field)
    if parsed.userinfo:
        # It would be stored and shown like the rest of the URL; credentials belong elsewhere.
        raise BadUserInput("the URL may not hold a user name or password (user:password@)", field=field)
    return url


def refusal(address: Address, settings: Settings) -> str | None:
    """Why AIM may not call this address (a short phrase: "a loopback address", "a private address",
    "a link-local address (cloud metadata lives there)", "a shared (carrier-grade NAT) address",
    "a multicast address", "an unspecified address", "a reserved address"), or None if it may.
    Only production refuses; an address inside one of settings.allow_private_targets (or "*") is allowed.
    IPv4-mapped IPv6 (::ffff:127.0.0.1) is judged as the IPv4 address it maps. Anything not is_global is refused."""
    if not settings.production:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        # The kernel connects ::ffff:a.b.c.d to a.b.c.d itself.
        address = address.ipv4_mapped
    allowed = settings.allow_private_targets
    if "*" in allowed or any(address in ipaddress.ip_network(n, strict=False) for n in allowed):
        return None
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if address in _SHARED:
        return "a shared (carrier-grade NAT) address"
    # Checked apart from is_global, which counts IPv4 multicast as global.
    if address.is_multicast:
        return "a multicast address"
    if any(address in network for network in _PRIVATE):
        return "a private address"
    if not address.is_global:
        return "a reserved address"
    return None


def client(settings: Settings, *, timeout: float, **kwargs: Any) -> httpx2.AsyncClient:
    """An AsyncClient whose every request (the first, and each redirect, since each goes through the transport)
    resolves the host itself (loop.getaddrinfo), refuses it if ANY resolved address is refused (Refused),
    then connects to the checked IP (so DNS rebinding between check and connect is impossible), keeping the
    Host header and, for https, the TLS server name (the `sni_hostname` extension) as the original host.
    connect timeout = settings.outbound_connect_timeout, read/write/pool timeout = `timeout`; trust_env=False
    (no proxies from the environment); the response body is counted as it streams and TooLarge is raised as
    soon as it passes settings.outbound_max_bytes (the whole body is never buffered first). kwargs pass on to
    httpx2.AsyncClient (headers, follow_redirects...); mounts and proxy, which would route around the
    check, are a TypeError."""
    if bypass := kwargs.keys() & {"mounts", "proxy"}:
        raise TypeError(f"outbound.client() does not take {', '.join(sorted(bypass))}: it would skip the address check")
    return httpx2.AsyncClient(
        transport=_Guard(settings),
        timeout=httpx2.Timeout(timeout, connect=settings.outbound_connect_timeout),
        trust_env=False,
        **kwargs,
    )


@functools.cache
def _tls() -> ssl.SSLContext:
    # Loading the CA bundle is the costly part of a transport, and the context is the same for every
    # host (the name checked comes with each request): one for the process.
    return httpx2.create_ssl_context(trust_env=False)


class _Guard(httpx2.AsyncBaseTransport):
    """Resolves, checks, then sends each request to the address it checked."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        # One pool per host name. A pool keys its connections by scheme, address and port only, so a
        # shared pool would send one name's request over an https connection whose certificate was
        # checked for another name that resolved to the same address.
        self._pools: dict[str, httpx2.AsyncHTTPTransport] = {}

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        host = request.url.raw_host.decode("ascii")  # IDNA-encoded, without an IPv6 literal's brackets
        addresses = await self._resolve(request, host)
        # Every address, not only the one connected to: which one that is depends on what answers.
        for address in addresses:
            if reason := refusal(address, self._settings):
                subject = host if str(address) == host else f"{host} resolves to {address}, which"
                raise Refused(f"refused: {subject} is {reason}")
        if host not in self._pools:
            self._pools[host] = httpx2.AsyncHTTPTransport(verify=_tls(), trust_env=False)
        # An address that cannot be reached gives way to the next, as a browser's would; nothing of the
        # request has been sent when connecting fails, so sending it again is safe.
        for address in addresses[:-1]:
            with contextlib.suppress(httpx2.ConnectError, httpx2.ConnectTimeout):
                return await self._send(request, host, address)
        return await self._send(request, host, addresses[-1])

    async def _resolve(self, request: httpx2.Request, host: str) -> list[Address]:
        # Resolving is part of connecting, so it shares the connect timeout.
        timeout = request.extensions.get("timeout", {}).get("connect")
        try:
            async with asyncio.timeout(timeout):
                found = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except TimeoutError:
            raise httpx2.ConnectTimeout(f"resolving {host} took too long", request=request) from None
        except OSError as exc:
            raise httpx2.ConnectError(f"{host} could not be resolved ({exc.strerror})", request=request) from None
        return list(dict.fromkeys(ipaddress.ip_address(sockaddr[0]) for *_, sockaddr in found))

    async def _send(self, request: httpx2.Request, host: str, address: Address) -> httpx2.Response:
        headers = request.headers.copy()  # Host is among them, as the client set it from the URL
        # The cap counts bytes as they arrive; a compressed body could unpack to far more.
        headers["Accept-Encoding"] = "identity"
        to_address = httpx2.Request(
            request.method,
            request.url.copy_with(host=str(address)),
            headers=headers,
            stream=request.stream,
            # TLS then names and verifies the host, not the address (only https uses it).
            extensions={**request.extensions, "sni_hostname": host},
        )
        response = await self._pools[host].handle_async_request(to_address)
        encoding = response.headers.get("Content-Encoding", "identity").lower()
        if encoding != "identity":
            await response.aclose()
            raise OutboundError(f"{host} sent a {encoding}-encoded body although AIM asked for none")
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        response.stream = _Capped(response.stream, self._settings.outbound_max_bytes, host)
        return response

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()


class _Capped(httpx2.AsyncByteStream):
    """A response body that fails once it passes `limit` bytes, before handing on the chunk that did."""

    def __init__(self, stream: httpx2.AsyncByteStream, limit: int, host: str) -> None:
        self._stream = stream
        self._limit = limit
        self._host = host

    async def __aiter__(self) -> AsyncIterator[bytes]:
        received = 0
        async for chunk in self._stream:
            received += len(chunk)
            if received > self._limit:
                raise TooLarge(f"{self._host} sent more than {self._limit:,} bytes, the most AIM reads")
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()
