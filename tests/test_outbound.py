"""Calls to user-given URLs reach only addresses AIM may call, and stop at the time and size limits.

The receivers are real HTTP/1.1 servers on loopback addresses that count every connection they accept,
so "refused" here means that not even a TCP connection was opened."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import socket
import time
from functools import partial

import httpx2
import pytest

from aim_identity import outbound
from aim_identity.config import Settings
from aim_identity.errors import BadUserInput
from tests.conftest import TEST_SECRET
from tests.receivers import FIFTY_MB, fifty_megabytes, ok, redirect, silence


def production(*allowed: str, **overrides) -> Settings:
    return Settings(
        env="production",
        secret_key=TEST_SECRET,
        registration="closed",
        allow_private_targets=allowed,
        **overrides,
    )


DEVELOPMENT = Settings(env="development")
# What "localhost" may resolve to; the receivers listen on 127.0.0.1 only, so ::1 is tried and given up.
LOOPBACK = ("127.0.0.1", "::1")


async def trace(events: list[tuple[str, dict]], name: str, info: dict) -> None:
    """httpcore2's `trace` request extension: what the connection pool really did."""
    events.append((name, info))


@pytest.fixture
async def hosts(monkeypatch) -> dict[str, list[str]]:
    """Names with the addresses a test gives them, as /etc/hosts would: this system has no name with two
    addresses. Every other name goes to the real resolver."""
    pinned: dict[str, list[str]] = {}
    loop = asyncio.get_running_loop()
    resolve = loop.getaddrinfo

    async def getaddrinfo(host, port, **kwargs):
        if host not in pinned:
            return await resolve(host, port, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, 0)) for a in pinned[host]]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return pinned


# refusal()

REFUSED = {
    "127.0.0.1": "a loopback address",
    "::1": "a loopback address",
    "10.1.2.3": "a private address",
    "172.16.0.1": "a private address",
    "172.31.255.254": "a private address",
    "192.168.1.1": "a private address",
    "169.254.169.254": "a link-local address (cloud metadata lives there)",
    "fd00::1": "a private address",
    "fe80::1": "a link-local address (cloud metadata lives there)",
    "::ffff:127.0.0.1": "a loopback address",
    "::ffff:169.254.169.254": "a link-local address (cloud metadata lives there)",
    "0.0.0.0": "an unspecified address",
    "::": "an unspecified address",
    "100.64.0.1": "a shared (carrier-grade NAT) address",
    "224.0.0.1": "a multicast address",
    "ff02::1": "a multicast address",
    "192.0.2.1": "a reserved address",  # documentation (TEST-NET-1)
    "240.0.0.1": "a reserved address",
}


@pytest.mark.parametrize(("address", "reason"), REFUSED.items())
def test_production_refuses_every_address_that_is_not_public(address, reason):
    assert outbound.refusal(ipaddress.ip_address(address), production()) == reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_production_allows_public_addresses(address):
    assert outbound.refusal(ipaddress.ip_address(address), production()) is None


def test_an_allow_list_allows_exactly_what_it_names():
    settings = production("127.0.0.1", "10.0.0.0/8")
    assert outbound.refusal(ipaddress.ip_address("127.0.0.1"), settings) is None
    assert outbound.refusal(ipaddress.ip_address("::ffff:127.0.0.1"), settings) is None
    assert outbound.refusal(ipaddress.ip_address("10.200.0.1"), settings) is None
    assert outbound.refusal(ipaddress.ip_address("127.0.0.2"), settings) == "a loopback address"
    assert outbound.refusal(ipaddress.ip_address("192.168.0.1"), settings) == "a private address"


@pytest.mark.parametrize("address", REFUSED)
def test_a_star_allows_every_address(address):
    assert outbound.refusal(ipaddress.ip_address(address), production("*")) is None


@pytest.mark.parametrize("address", REFUSED)
def test_development_allows_every_address(address):
    assert outbound.refusal(ipaddress.ip_address(address), DEVELOPMENT) is None


# http_url()

NOT_HTTP_URLS = [
    "ftp://example.com/",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "http://",
    "not a url",
    "http://user:pw@example.com/",
    "https://user@example.com/",
    "http://example.com:99999/",
    "http://exa mple.com/",
    "https://example.com/" + "a" * 1981,  # 2001 characters
]


@pytest.mark.parametrize("value", NOT_HTTP_URLS)
def test_only_plain_http_and_https_urls_are_taken(value):
    with pytest.raises(BadUserInput) as raised:
        outbound.http_url(value, field="serverUrl")
    assert raised.value.extensions == {"code": "BAD_USER_INPUT", "field": "serverUrl"}


def test_http_and_https_urls_are_taken_stripped():
    assert outbound.http_url("  http://example.com:8080/mcp\n") == "http://example.com:8080/mcp"
    assert outbound.http_url("https://[2606:4700::1111]/sse") == "https://[2606:4700::1111]/sse"
    longest = "https://example.com/" + "a" * 1980
    assert outbound.http_url(longest) == longest


# client(): addresses


async def test_production_refuses_a_loopback_address_before_connecting(receivers):
    receiver = await receivers(ok(b"secret"))
    async with outbound.client(production(), timeout=5) as http:
        with pytest.raises(outbound.Refused) as raised:
            await http.get(receiver.url)
    assert str(raised.value) == "refused: 127.0.0.1 is a loopback address"
    assert receiver.connections == 0


async def test_production_refuses_a_name_that_resolves_to_loopback(receivers):
    receiver = await receivers(ok(b"secret"))
    async with outbound.client(production(), timeout=5) as http:
        with pytest.raises(outbound.Refused) as raised:
            await http.get(f"http://localhost:{receiver.port}/")
    assert str(raised.value).startswith("refused: localhost resolves to ")
    assert str(raised.value).endswith(", which is a loopback address")
    assert receiver.connections == 0


async def test_a_name_is_refused_if_any_of_its_addresses_is(receivers, hosts):
    # Which address gets connected to depends on what answers, so the one that was not checked might.
    receiver = await receivers(ok(b"secret"))
    hosts["twice.test"] = ["127.0.0.1", "127.0.0.2"]
    async with outbound.client(production("127.0.0.1"), timeout=5) as http:
        with pytest.raises(outbound.Refused) as raised:
            await http.get(f"http://twice.test:{receiver.port}/")
    assert str(raised.value) == "refused: twice.test resolves to 127.0.0.2, which is a loopback address"
    assert receiver.connections == 0


async def test_an_address_that_cannot_be_reached_gives_way_to_the_next(receivers, hosts):
    receiver = await receivers(ok(b"hello"))
    hosts["twice.test"] = ["127.0.0.3", "127.0.0.1"]  # nothing listens on 127.0.0.3
    async with outbound.client(production("127.0.0.0/8"), timeout=5) as http:
        response = await http.get(f"http://twice.test:{receiver.port}/")
    assert response.content == b"hello"
    assert [request["host"] for request in receiver.requests] == [f"twice.test:{receiver.port}"]


async def test_a_name_that_does_not_resolve_fails_like_a_connection():
    async with outbound.client(DEVELOPMENT, timeout=5) as http:
        with pytest.raises((httpx2.ConnectError, httpx2.ConnectTimeout)):
            await http.get("http://nothing-here.invalid/")


async def test_an_allowed_address_is_called(receivers):
    receiver = await receivers(ok(b"hello"))
    async with outbound.client(production("127.0.0.1"), timeout=5) as http:
        response = await http.get(receiver.url)
    assert (response.status_code, response.content) == (200, b"hello")
    assert receiver.connections == 1


async def test_a_redirect_to_a_refused_address_is_refused(receivers):
    inside = await receivers(ok(b"secret"), host="127.0.0.2")
    allowed = await receivers(redirect(lambda: inside.url))
    async with outbound.client(production("127.0.0.1"), timeout=5, follow_redirects=True) as http:
        with pytest.raises(outbound.Refused) as raised:
            await http.get(allowed.url)
    assert str(raised.value) == "refused: 127.0.0.2 is a loopback address"
    assert (allowed.connections, inside.connections) == (1, 0)


async def test_development_calls_loopback(receivers):
    receiver = await receivers(ok(b"hello"))
    async with outbound.client(DEVELOPMENT, timeout=5) as http:
        response = await http.get(receiver.url)
    assert response.content == b"hello"


async def test_an_ipv6_literal_is_called(receivers):
    try:
        receiver = await receivers(ok(b"over ipv6"), host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    async with outbound.client(production("::1"), timeout=5) as http:
        response = await http.get(f"http://[::1]:{receiver.port}/")
    assert response.content == b"over ipv6"
    assert receiver.requests[0]["host"] == f"[::1]:{receiver.port}"


async def test_the_receiver_sees_the_host_it_was_called_by_not_the_address(receivers):
    receiver = await receivers(ok(b"hello"))
    async with outbound.client(production(*LOOPBACK), timeout=5) as http:
        response = await http.get(f"http://localhost:{receiver.port}/")
    assert response.status_code == 200
    assert receiver.requests[0]["host"] == f"localhost:{receiver.port}"
    # The client's view is unchanged too: a relative redirect would go to the name, and be checked again.
    assert response.request.url.host == "localhost"


async def test_the_connection_goes_to_the_checked_address_and_tls_names_the_host():
    # A receiver that hangs up at once: the TLS handshake fails, but only after it was begun.
    hang_up = await asyncio.start_server(lambda reader, writer: writer.close(), "127.0.0.1", 0)
    port = hang_up.sockets[0].getsockname()[1]
    events: list[tuple[str, dict]] = []
    try:
        async with outbound.client(production(*LOOPBACK), timeout=5) as http:
            with pytest.raises(httpx2.ConnectError):
                await http.get(f"https://localhost:{port}/", extensions={"trace": partial(trace, events)})
    finally:
        hang_up.close()
        await hang_up.wait_closed()
    connected = {info["host"] for name, info in events if name == "connection.connect_tcp.started"}
    tls_names = {info["server_hostname"] for name, info in events if name == "connection.start_tls.started"}
    # Connected to an address that was checked, not to a name resolved again (DNS rebinding)...
    assert connected and connected <= set(LOOPBACK)
    # ...while the certificate is asked for, and checked against, the name.
    assert tls_names == {"localhost"}


async def test_a_connection_is_reused_for_its_host_name_only(receivers):
    # Two names for one address must not share a connection: over https it was verified for one of them.
    receiver = await receivers(ok(b"hello"))
    async with outbound.client(production(*LOOPBACK), timeout=5) as http:
        for url in (receiver.url, f"http://localhost:{receiver.port}/", receiver.url):
            assert (await http.get(url)).status_code == 200
    assert (receiver.connections, len(receiver.requests)) == (2, 3)


async def test_proxies_from_the_environment_are_not_used(receivers, monkeypatch):
    proxy = await receivers(ok(b"from the proxy"))
    receiver = await receivers(ok(b"direct"))
    for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(variable, proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with outbound.client(DEVELOPMENT, timeout=5) as http:
        assert (await http.get(f"http://localhost:{receiver.port}/")).content == b"direct"
    assert proxy.connections == 0


async def test_connecting_has_its_own_timeout():
    async with outbound.client(production(outbound_connect_timeout=1.5), timeout=7) as http:
        assert http.timeout == httpx2.Timeout(7, connect=1.5)


def test_no_proxy_or_mount_can_route_around_the_check():
    for bypass in ({"proxy": "http://proxy.example:3128"}, {"mounts": {"all://": httpx2.AsyncHTTPTransport()}}):
        with pytest.raises(TypeError):
            outbound.client(production(), timeout=5, **bypass)


# client(): time and size


async def test_a_receiver_that_never_answers_times_out(receivers):
    receiver = await receivers(silence)
    started = time.monotonic()
    async with outbound.client(DEVELOPMENT, timeout=1) as http:
        with pytest.raises(httpx2.TimeoutException):
            await http.get(receiver.url)
    assert time.monotonic() - started < 1 + 2
    assert receiver.connections == 1


async def test_a_body_past_the_cap_stops_the_call_as_it_streams(receivers):
    receiver = await receivers(fifty_megabytes)
    cap = 1024 * 1024
    read = 0
    async with outbound.client(Settings(env="development", outbound_max_bytes=cap), timeout=5) as http:
        with pytest.raises(outbound.TooLarge) as raised:
            async with http.stream("GET", receiver.url) as response:
                async for chunk in response.aiter_bytes():
                    read += len(chunk)
    assert str(raised.value) == "127.0.0.1 sent more than 1,048,576 bytes, the most AIM reads"
    assert read <= cap
    await asyncio.wait_for(receiver.finished.wait(), 10)
    # The receiver stopped once its writes went nowhere: it got through the cap and the sockets' buffers.
    assert receiver.sent < FIFTY_MB / 2


async def test_a_buffered_read_is_capped_too(receivers):
    receiver = await receivers(ok(b"x" * 2048))
    async with outbound.client(Settings(env="development", outbound_max_bytes=2047), timeout=5) as http:
        with pytest.raises(outbound.TooLarge):
            await http.get(receiver.url)


async def test_a_compressed_body_is_not_unpacked(receivers):
    # Ten megabytes that travel as ten kilobytes: the cap counts what arrives, so this must not be inflated.
    receiver = await receivers(ok(gzip.compress(b"x" * 10_000_000), "Content-Encoding: gzip"))
    async with outbound.client(DEVELOPMENT, timeout=5) as http:
        with pytest.raises(outbound.OutboundError) as raised:
            await http.get(receiver.url, headers={"Accept-Encoding": "gzip"})
    assert str(raised.value) == "127.0.0.1 sent a gzip-encoded body although AIM asked for none"
    assert receiver.requests[0]["accept-encoding"] == "identity"
