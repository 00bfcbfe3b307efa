"""Documents are bounded before they are parsed, on every path that parses: over HTTP (the response
cache's early answer included) and in a WebSocket `subscribe`; and the caches of parsed documents and
of answers key on a hash of the document, never on its text."""

from __future__ import annotations

import asyncio
import json
import uuid

import aiohttp
import websockets

from aim_identity.auth.principal import Principal
from aim_identity.delivery.response_cache import ResponseCache
from aim_identity.models import Role
from aim_identity.schema.core import documents
from tests.support import Org

AGENT_EVENTS = "subscription { agentEvents { kind } }"


def big_document(size: int) -> str:
    return "{ viewer { id " + "name " * ((size - 20) // 5) + "} }"


async def post(url: str, token: str, document: str) -> dict:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json={"query": document}, headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        return await response.json()


async def test_a_large_document_is_refused_unparsed_over_http(org: Org, url: str, settings):
    # Within the request body limit, far over the document limit: refused by its size, so never lexed.
    body = await post(url, org.admin.api.token, big_document(900_000))
    assert body["errors"][0]["extensions"] == {"code": "QUERY_TOO_COMPLEX", "limit": settings.max_document_bytes}
    assert "over the limit" in body["errors"][0]["message"]
    # The same document again (the response cache's early path looks at it first): the same answer.
    assert await post(url, org.admin.api.token, big_document(900_000)) == body


async def test_a_document_of_too_many_tokens_stops_its_parse(org: Org, url: str, settings):
    document = "{ viewer { " + "id " * (settings.max_tokens + 10) + "} }"
    assert len(document) < settings.max_document_bytes
    body = await post(url, org.admin.api.token, document)
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert "tokens" in body["errors"][0]["message"]


async def test_a_large_subscribe_is_refused_and_refusals_count_against_the_socket(org: Org, url: str, settings):
    socket = await websockets.connect(url.replace("http://", "ws://"), subprotocols=["graphql-transport-ws"])
    await socket.send(
        json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {org.admin.api.token}"}})
    )
    assert json.loads(await asyncio.wait_for(socket.recv(), 2))["type"] == "connection_ack"
    big = "subscription { agentEvents { kind " + "agentId " * 20_000 + "} }"
    for n in range(settings.ws_max_subscriptions):
        await socket.send(json.dumps({"id": f"big-{n}", "type": "subscribe", "payload": {"query": big}}))
        reply = json.loads(await asyncio.wait_for(socket.recv(), 2))
        assert reply["type"] == "error" and "over the limit" in reply["payload"][0]["message"]
    # The socket has used up its subscriptions on refusals: a good one is refused now too.
    await socket.send(json.dumps({"id": "good", "type": "subscribe", "payload": {"query": AGENT_EVENTS}}))
    reply = json.loads(await asyncio.wait_for(socket.recv(), 2))
    assert reply["type"] == "error" and "limit" in reply["payload"][0]["message"]
    await socket.close()


def test_the_caches_hold_digests_of_documents_not_their_text():
    text = "query { viewer { id name } }" + " " * 1000 + f"# {uuid.uuid4()}"
    documents.parse(text, max_bytes=65536, max_tokens=2000)
    assert all(isinstance(digest, bytes) and len(digest) == 32 for digest, _ in documents._parsed)
    cache = ResponseCache(10, max_document_bytes=65536, max_tokens=2000)
    principal = Principal("user", uuid.uuid4(), Role.ADMIN, user_id=uuid.uuid4(), data_version=1)
    key = cache.key(principal, text, None, None)
    assert key is not None and text not in key and not any(isinstance(part, str) and len(part) > 200 for part in key)
