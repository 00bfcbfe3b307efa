"""Settings, read once from `AIM_*` environment variables and validated before anything starts.

Each field's description is its documentation: the README's table of variables is printed from this
class (`aimctl settings --markdown`), and a test keeps the two the same."""

from __future__ import annotations

import ipaddress
import logging
import os
from typing import Annotated, Any, Literal

from limits import parse
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

log = logging.getLogger(__name__)

PREFIX = "AIM_"
# Variables with the prefix that belong to the test suite, the benchmarks and the agent SDK (which may
# run beside the service), not to the service.
_NOT_SETTINGS = ("AIM_TEST_", "AIM_BENCH_", "AIM_SDK_")
# Never printed or echoed in an error: the SMTP URL may hold a password.
SECRETS = {"secret_key", "retired_secret_keys", "smtp_url"}

Positive = Annotated[int, Field(gt=0)]
Rate = str  # as the `limits` library writes one: "10/hour", "60 per minute"
Count = Annotated[int, Field(ge=0)]
PositiveSeconds = Annotated[float, Field(gt=0)]
CommaList = Annotated[tuple[str, ...], NoDecode]


SECRET_ADVICE = "generate one with python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


def strong_secret(secret: str) -> bool:
    """At least 32 bytes' worth of text (43 characters of base64) that is not a few characters repeated.
    Randomness cannot be seen in a value; its length and its variety can."""
    return len(secret) >= 43 and len(set(secret)) >= 16


class SettingsError(ValueError):
    """Start-up stops: a variable is missing or holds a value AIM cannot use."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, frozen=True, extra="forbid")

    env: Literal["development", "production"] = Field(
        "development",
        description="`production` turns off introspection and GraphiQL, blocks GET, masks internal "
        "errors, leaves name suggestions out of errors, adds HSTS and a content policy to the security headers, "
        "enforces the depth/alias/root-field/directive/cost limits below, requires `AIM_SECRET_KEY`, and moves "
        "the outbox relay out of `serve` into `aimctl worker`; anything but the two values stops start-up",
    )
    database_url: str = Field(
        "sqlite://./aim.db",
        description="Tortoise URL: `sqlite://PATH` or `postgres://user:pass@host:5432/db`; on "
        "PostgreSQL each process keeps at most 20 connections, `?maxsize=N` changes it",
    )
    redis_url: str = Field(
        "memory://", description="event broker: `redis://host:6379/0` across replicas, `memory://` for one process"
    )
    secret_key: str | None = Field(
        None,
        description="the service secret; every replica derives the same Ed25519 token-signing key and the "
        "key that encrypts stored MFA secrets from it. Required in production; in development a secret is generated "
        "once and kept in the database (a warning says so)",
    )
    retired_secret_keys: CommaList = Field(
        (),
        description="comma-separated former secrets: their public keys stay in the JWKS so tokens they signed "
        "keep verifying until they expire, and what they encrypted can still be read",
    )
    host: str = Field("127.0.0.1", description="where `aimctl serve` listens (`--host` overrides)")
    port: int = Field(8000, ge=1, le=65535, description="where `aimctl serve` listens (`--port` overrides)")
    trusted_proxies: CommaList = Field(
        ("127.0.0.1",),
        description="comma-separated addresses (or `*`) of the reverse proxies whose `X-Forwarded-For` names the "
        "client: audit entries and the per-address limits see that client, not the proxy",
    )
    issuer: str = Field(
        "aim", min_length=1, description="the `iss` of every token, and the issuer named in authenticator apps"
    )
    public_url: str | None = Field(
        None,
        description="the URL clients reach AIM at (`https://aim.example.com`): the OAuth issuer that MCP servers "
        "trust, and the base of its endpoints; unset, `http://HOST:PORT`",
    )
    resource_token_ttl: int = Field(
        300, ge=30, le=600, description="lifetime of an access token for one MCP server, seconds (at most 600)"
    )
    access_token_ttl: Positive = Field(
        900,
        description="user access token lifetime, seconds; short, since `refreshToken` renews it and ending the "
        "session (logout, a reused refresh token) ends every token of it",
    )
    agent_token_ttl: Positive = Field(600, description="agent token lifetime, seconds")
    refresh_token_ttl: Positive = Field(7 * 24 * 3600, description="refresh token lifetime, seconds")
    challenge_ttl: Positive = Field(300, description="how long a verification challenge can be answered, seconds")
    action_clock_skew: Positive = Field(60, description="accepted clock skew of signed action requests, seconds")
    key_rotation_days: Positive = Field(90, description="key age after which the compliance factor starts to fall")
    login_max_failures: Positive = Field(
        5, description="failed logins (a wrong password or MFA code) per account before a lockout"
    )
    login_ip_max_failures: Positive = Field(
        20, description="failed logins, and separately failed API-key attempts, per client address before a lockout"
    )
    login_lockout_seconds: Positive = Field(
        900, description="the window the failures are counted in, and the lockout length"
    )
    login_rate: Rate = Field(
        "60/minute",
        description="sign-in attempts per client address (`limits` notation), counted before any "
        "password is checked; more get `RATE_LIMITED`",
    )
    signup_rate: Rate = Field(
        "10/hour", description="sign-up attempts (`requestRegistration` and `register`) per client address"
    )
    registration: Literal["verified", "open", "closed"] = Field(
        "open",  # `verified` in production (_registration_by_environment)
        description="who may open an organization: `verified` sends a code to the address first, and an address "
        "that has an account cannot be told apart (production's default; needs `AIM_SMTP_URL` there); `open` "
        "registers at once (development's default); `closed` leaves it to `aimctl create-admin`",
    )
    smtp_url: str | None = Field(
        None,
        description="where mail goes: `smtp://user:password@host:587?starttls=1` or `smtps://...:465`; unset, "
        "messages are written to the log (development)",
    )
    mail_from: str = Field("AIM <aim@localhost>", description="the sender of AIM's mail")
    allow_private_targets: CommaList = Field(
        (),
        description="production: comma-separated networks (`10.0.0.0/8`, `127.0.0.1`) that outbound calls to "
        "user-given URLs may reach although they are private, loopback or link-local, or `*` for all of them; "
        "unset, those are refused (after DNS resolution, on every redirect). Development allows all",
    )
    outbound_connect_timeout: PositiveSeconds = Field(
        3.0, description="seconds to connect, for every outbound call to a user-given URL"
    )
    outbound_max_bytes: Positive = Field(
        4 * 1024 * 1024, description="largest response body AIM reads from a user-given URL; more fails the call"
    )
    audit_checkpoint_entries: Positive = Field(
        1000, description="a signed checkpoint of an organization's audit chain at least every this many entries"
    )
    audit_checkpoint_seconds: PositiveSeconds = Field(
        3600.0, description="and before its oldest unsigned entry is this many seconds old, whichever comes first"
    )
    webhook_timeout: PositiveSeconds = Field(10.0, description="seconds a webhook receiver has to answer a delivery")
    webhook_retry_seconds: PositiveSeconds = Field(
        10.0,
        description="the first wait before a failed webhook delivery is retried; it doubles each time, up to an hour",
    )
    mcp_discovery_timeout: PositiveSeconds = Field(
        30.0, description="seconds one discovery of an MCP server may take in all (initialize and every list)"
    )
    mcp_discovery_interval: Positive = Field(
        6 * 3600, description="seconds between scheduled re-discoveries of each MCP server with a URL"
    )
    mcp_max_capabilities: Positive = Field(
        2000, description="tools, resources and prompts AIM keeps of one MCP server; a server listing more fails"
    )
    mcp_health_interval: Positive = Field(60, description="seconds between health checks of each MCP server")
    mcp_health_timeout: PositiveSeconds = Field(
        5.0, description="seconds a health check may take before the server counts as DOWN"
    )
    mcp_degraded_ms: Positive = Field(
        1000, description="a health check answered slower than this many milliseconds is DEGRADED, not HEALTHY"
    )
    allowed_origins: CommaList = Field(
        (),
        description="comma-separated origins allowed to open a WebSocket from a browser (clients that send no "
        "Origin are always allowed)",
    )
    max_query_depth: Positive = Field(12, description="production: deepest selection allowed")
    max_aliases: Positive = Field(30, description="production: aliases per document")
    max_root_fields: Positive = Field(20, description="production: fields an operation asks for at its root")
    max_directives: Positive = Field(
        4, description="production: directives on one field, fragment spread or inline fragment"
    )
    max_tokens: Positive = Field(
        2000, description="tokens per document, counted as it is parsed; more stop the parse (`QUERY_TOO_COMPLEX`)"
    )
    max_document_bytes: Positive = Field(
        65536, description="largest document, refused before it is parsed (`QUERY_TOO_COMPLEX`)"
    )
    max_query_cost: Positive = Field(
        5000,
        description='production: the most one request may cost (`QUERY_TOO_COMPLEX` past it; see "Query cost" below)',
    )
    cost_budget: Rate = Field(
        "100000/minute",
        description="query cost each user, API key and agent (and each address not signed in) may spend, in a "
        "sliding window shared by every replica; past it `RATE_LIMITED`, HTTP 429 and `Retry-After` "
        '(see "Query cost" below)',
    )
    ws_init_timeout: Positive = Field(
        10, description="seconds a WebSocket may wait before `connection_init` before it is closed (4408)"
    )
    ws_max_subscriptions: Positive = Field(
        20, description="subscriptions per WebSocket connection; more get an `error` message"
    )
    ws_max_connections_per_principal: Positive = Field(
        10, description="open WebSockets per user, API key or agent, per API process; more are closed with 4403"
    )
    response_cache_size: Count = Field(
        1024, description='query results kept per API process (see "Response cache" below); `0` turns the cache off'
    )
    max_concurrent_requests: Count = Field(
        8,
        description="GraphQL HTTP requests that run at once per API process; the rest wait their turn in arrival "
        'order (see "Admission control" below); `0` lets every request in at once',
    )
    max_queued_requests: Count = Field(
        500,
        description="GraphQL HTTP requests that may wait for their turn per API process; one more gets HTTP "
        "503, `RATE_LIMITED` and `Retry-After: 1`",
    )
    max_request_bytes: Positive = Field(
        1024 * 1024,
        description="largest GraphQL HTTP request body (a larger one gets HTTP 413 and `BAD_USER_INPUT` "
        "before anything runs) and largest WebSocket message (a larger one closes the socket with 1009)",
    )

    @field_validator(
        "retired_secret_keys", "allowed_origins", "trusted_proxies", "allow_private_targets", mode="before"
    )
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value

    @field_validator("secret_key", "smtp_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return value or None

    @field_validator("allow_private_targets")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for network in value:
            if network != "*":
                try:
                    ipaddress.ip_network(network, strict=False)
                except ValueError:
                    raise ValueError(f"{network!r} is not a network (10.0.0.0/8, 127.0.0.1) or *") from None
        return value

    @field_validator("login_rate", "signup_rate", "cost_budget")
    @classmethod
    def _a_rate(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError:
            raise ValueError("use the `limits` notation, e.g. 10/hour or 60 per minute") from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _registration_by_environment(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("registration") and data.get("env") == "production":
            data["registration"] = "verified"
        return data

    @model_validator(mode="after")
    def _production_is_complete(self) -> Settings:
        if not self.production:
            return self
        if self.secret_key is None:
            raise ValueError(f"{PREFIX}SECRET_KEY is required when {PREFIX}ENV=production")
        if not strong_secret(self.secret_key):
            raise ValueError(f"{PREFIX}SECRET_KEY must hold at least 32 random bytes: {SECRET_ADVICE}")
        if self.registration == "verified" and not self.smtp_url:
            raise ValueError(
                f"{PREFIX}REGISTRATION=verified needs {PREFIX}SMTP_URL to send its codes (or set "
                f"{PREFIX}REGISTRATION=closed and start organizations with aimctl create-admin)"
            )
        return self

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def issuer_url(self) -> str:
        """The OAuth issuer (RFC 8414): a URL with no query, fragment or trailing slash."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


def load() -> Settings:
    """The settings of this process, or SettingsError naming each variable that is wrong and why."""
    unknown = sorted(
        name
        for name in os.environ
        if name.startswith(PREFIX)
        and not name.startswith(_NOT_SETTINGS)
        and name.removeprefix(PREFIX).lower() not in Settings.model_fields
    )
    if unknown:
        log.warning("ignoring unknown settings: %s", ", ".join(unknown))
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError("\n".join(_problem(error) for error in exc.errors())) from None


def _problem(error: Any) -> str:
    fields = [str(part) for part in error["loc"] if isinstance(part, str)]
    variable = f"{PREFIX}{fields[0].upper()}" if fields else "settings"
    message = error["msg"].removeprefix("Value error, ")
    if not fields:
        return message
    if fields[0] in SECRETS:
        return f"{variable}: {message}"
    return f"{variable}: {message} (got {error['input']!r})"


_SHOWN_DEFAULTS = {"secret_key": "generated in development", "registration": "`open`; `verified` in production"}


def markdown_table() -> str:
    """The README's table of variables."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        default = info.default
        if isinstance(default, tuple):
            default = ",".join(default)
        shown = _SHOWN_DEFAULTS.get(name) or ("empty" if default in (None, "") else f"`{default}`")
        rows.append(f"| `{PREFIX}{name.upper()}` | {shown} | {info.description} |")
    return "\n".join(rows)
