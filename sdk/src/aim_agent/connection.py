"""One HTTP connection to AIM, kept open and shared by every call: GraphQL through gql, and the OAuth
token endpoint through the same httpx client. Failures become the SDK's errors: an answer with
errors is an `AIMError` with its `extensions.code`; no answer at all is `AIMUnavailable`."""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from typing import Any

import httpx
from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportError, TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport

from aim_agent.errors import AIMError, AIMUnavailable

USER_AGENT = f"aim-agent/{version('aim-agent-identity')}"


def base_url(url: str) -> str:
    """AIM's address without a trailing slash or `/graphql`, as identities are stored under it."""
    url = url.rstrip("/")
    return url.removesuffix("/graphql")


class Connection:
    def __init__(self, url: str, *, api_key: str | None = None, timeout: float = 10.0) -> None:
        self.url = base_url(url)
        self.api_key = api_key
        self._transport = HTTPXAsyncTransport(
            url=self.url + "/graphql", timeout=timeout, headers={"User-Agent": USER_AGENT}
        )
        self._client = Client(transport=self._transport)
        self._session: AsyncClientSession | None = None
        self._opening = asyncio.Lock()

    async def _opened(self) -> AsyncClientSession:
        if self._session is None:
            async with self._opening:
                if self._session is None:
                    self._session = await self._client.connect_async()
        return self._session

    async def execute(
        self,
        document: GraphQLRequest,
        variables: dict[str, Any],
        *,
        token: str | None = None,
        with_api_key: bool = False,
    ) -> dict[str, Any]:
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if with_api_key:
            if not self.api_key:
                raise AIMError("this needs an API key", "UNAUTHENTICATED")
            headers["X-API-Key"] = self.api_key
        session = await self._opened()
        try:
            request = GraphQLRequest(document, variable_values=variables)
            return await session.execute(request, extra_args={"headers": headers})
        except TransportQueryError as exc:
            raise _refusal(exc) from None
        except (TransportError, httpx.HTTPError) as exc:
            raise AIMUnavailable(f"AIM at {self.url} did not answer: {exc}") from None

    async def post_form(self, path: str, form: dict[str, str]) -> dict[str, Any]:
        """A form POST to one of AIM's OAuth endpoints: its JSON, or its RFC 6749 error as an AIMError."""
        await self._opened()
        http = self._transport.client
        assert http is not None  # connected above
        try:
            response = await http.post(self.url + path, data=form)
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise AIMUnavailable(f"AIM at {self.url} did not answer: {exc}") from None
        if response.status_code >= 500:
            raise AIMUnavailable(f"AIM at {self.url} answered HTTP {response.status_code}")
        if response.status_code != 200:
            raise AIMError(f"{body.get('error')}: {body.get('error_description', '')}".strip(), body.get("error"))
        return body

    async def close(self) -> None:
        if self._session is not None:
            self._session = None
            await self._client.close_async()


def _refusal(exc: TransportQueryError) -> AIMError:
    first = (exc.errors or [{}])[0]
    code = (first.get("extensions") or {}).get("code")
    message = first.get("message") or str(exc)
    if code == "INTERNAL_SERVER_ERROR":
        return AIMUnavailable(message, code)
    return AIMError(message, code)
