"""Settings, read once from `AIM_*` environment variables (every one is documented in the README)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _list(name: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in os.environ.get(name, "").split(",") if v.strip())


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    database_url: str = "sqlite://./aim.db"
    redis_url: str = "memory://"
    secret_key: str | None = None
    retired_secret_keys: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 8000
    issuer: str = "aim"
    access_token_ttl: int = 24 * 3600
    agent_token_ttl: int = 600
    refresh_token_ttl: int = 7 * 24 * 3600
    challenge_ttl: int = 300
    max_open_challenges: int = 10
    action_clock_skew: int = 60
    key_rotation_days: int = 90
    login_max_failures: int = 5
    login_ip_max_failures: int = 20
    login_lockout_seconds: int = 900
    allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000
    max_query_cost: int = 5000
    ws_init_timeout: int = 10
    ws_max_subscriptions: int = 20
    ws_max_connections_per_principal: int = 10
    response_cache_size: int = 1024
    max_concurrent_requests: int = 8
    max_queued_requests: int = 500
    max_request_bytes: int = 1024 * 1024

    @property
    def production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls) -> Settings:
        d = cls()
        return cls(
            env=os.environ.get("AIM_ENV", d.env),
            database_url=os.environ.get("AIM_DATABASE_URL", d.database_url),
            redis_url=os.environ.get("AIM_REDIS_URL", d.redis_url),
            secret_key=os.environ.get("AIM_SECRET_KEY") or None,
            retired_secret_keys=_list("AIM_RETIRED_SECRET_KEYS"),
            host=os.environ.get("AIM_HOST", d.host),
            port=_int("AIM_PORT", d.port),
            issuer=os.environ.get("AIM_ISSUER", d.issuer),
            access_token_ttl=_int("AIM_ACCESS_TOKEN_TTL", d.access_token_ttl),
            agent_token_ttl=_int("AIM_AGENT_TOKEN_TTL", d.agent_token_ttl),
            refresh_token_ttl=_int("AIM_REFRESH_TOKEN_TTL", d.refresh_token_ttl),
            challenge_ttl=_int("AIM_CHALLENGE_TTL", d.challenge_ttl),
            max_open_challenges=_int("AIM_MAX_OPEN_CHALLENGES", d.max_open_challenges),
            action_clock_skew=_int("AIM_ACTION_CLOCK_SKEW", d.action_clock_skew),
            key_rotation_days=_int("AIM_KEY_ROTATION_DAYS", d.key_rotation_days),
            login_max_failures=_int("AIM_LOGIN_MAX_FAILURES", d.login_max_failures),
            login_ip_max_failures=_int("AIM_LOGIN_IP_MAX_FAILURES", d.login_ip_max_failures),
            login_lockout_seconds=_int("AIM_LOGIN_LOCKOUT_SECONDS", d.login_lockout_seconds),
            allowed_origins=_list("AIM_ALLOWED_ORIGINS"),
            max_query_depth=_int("AIM_MAX_QUERY_DEPTH", d.max_query_depth),
            max_aliases=_int("AIM_MAX_ALIASES", d.max_aliases),
            max_tokens=_int("AIM_MAX_TOKENS", d.max_tokens),
            max_query_cost=_int("AIM_MAX_QUERY_COST", d.max_query_cost),
            ws_init_timeout=_int("AIM_WS_INIT_TIMEOUT", d.ws_init_timeout),
            ws_max_subscriptions=_int("AIM_WS_MAX_SUBSCRIPTIONS", d.ws_max_subscriptions),
            ws_max_connections_per_principal=_int("AIM_WS_MAX_CONNECTIONS_PER_PRINCIPAL",
                                                  d.ws_max_connections_per_principal),
            response_cache_size=_int("AIM_RESPONSE_CACHE_SIZE", d.response_cache_size),
            max_concurrent_requests=_int("AIM_MAX_CONCURRENT_REQUESTS", d.max_concurrent_requests),
            max_queued_requests=_int("AIM_MAX_QUEUED_REQUESTS", d.max_queued_requests),
            max_request_bytes=_int("AIM_MAX_REQUEST_BYTES", d.max_request_bytes),
        )
