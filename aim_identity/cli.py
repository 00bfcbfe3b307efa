"""aimctl: serve, worker, migrate, create-admin, unlock, verify-audit, schema, settings."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from aim_identity import config, row_security
from aim_identity.config import Settings

if TYPE_CHECKING:
    from starlette.applications import Starlette


def _serve(args: argparse.Namespace, settings: Settings) -> None:
    # The address given on the command line is the one served, and the issuer's default names it.
    from aim_identity.db import is_postgres

    settings = settings.model_copy(update={"host": args.host or settings.host, "port": args.port or settings.port})
    if args.workers > 1 and (not is_postgres(settings.database_url) or settings.redis_url.startswith("memory")):
        # SQLite takes one writer, and an in-memory broker reaches only its own process's subscribers.
        sys.exit("aimctl serve --workers needs PostgreSQL and Redis: set AIM_DATABASE_URL and AIM_REDIS_URL")
    serve(settings, workers=args.workers)


def serve(settings: Settings, *, checks: bool = True, workers: int = 1) -> None:
    """`aimctl serve`; `checks` as in `create_app`. With several workers uvicorn runs that many
    processes on one socket, each building its app from the environment (`served`)."""
    import uvicorn

    # No permessage-deflate: it keeps zlib state for every idle WebSocket, and events are small.
    # The sans-I/O WebSocket protocol runs no keep-alive and transfer tasks per connection. A client
    # message is held to the HTTP body limit (uvicorn's own is 16 MiB, buffered per connection).
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info",
        "ws": "websockets-sansio",
        "ws_per_message_deflate": False,
        "ws_max_size": settings.max_request_bytes,
        "forwarded_allow_ips": list(settings.trusted_proxies),
    }
    if workers > 1:
        assert checks, "only one process serves AIM without its checks (bench/hardening.py)"
        # The workers read their settings from the environment: the command line's address with them.
        os.environ.update({f"{config.PREFIX}HOST": settings.host, f"{config.PREFIX}PORT": str(settings.port)})
        uvicorn.run("aim_identity.cli:served", factory=True, workers=workers, **options)
    else:
        uvicorn.run(_built(settings, checks), **options)


def served() -> Starlette:
    """The app of each process of `aimctl serve --workers N`."""
    return _built(Settings(), checks=True)


def _built(settings: Settings, checks: bool) -> Starlette:
    from aim_identity.app import create_app

    app = create_app(settings, checks=checks)
    # What is built by now (modules, the schema) lives as long as the process: frozen, the collector
    # stops rescanning it, so full collections under load pause the requests in flight far less.
    gc.freeze()
    return app


def _worker(args: argparse.Namespace, settings: Settings) -> None:
    from aim_identity.workers.runner import run

    asyncio.run(run(settings))


def _migrate(args: argparse.Namespace, settings: Settings) -> None:
    from aim_identity.db import migrate

    asyncio.run(migrate(settings.database_url, args.to))
    print(f"database at {settings.database_url.split('@')[-1]} is up to date" + (f" to {args.to}" if args.to else ""))


def _schema(args: argparse.Namespace, settings: Settings) -> None:
    from aim_identity.api import build_schema

    print(build_schema(settings).as_str())


def _settings(args: argparse.Namespace, settings: Settings) -> None:
    if args.markdown:
        print(config.markdown_table())
        return
    for name, value in settings.model_dump().items():
        if name in config.SECRETS and value:
            value = "(set)"
        print(f"{config.PREFIX}{name.upper()}={value}")


def _create_admin(args: argparse.Namespace, settings: Settings) -> None:
    from tortoise import Tortoise

    from aim_identity.actors import Actor
    from aim_identity.auth import accounts
    from aim_identity.db import tortoise_config

    password = args.password or getpass.getpass("Password: ")

    async def create() -> None:
        await Tortoise.init(config=tortoise_config(settings.database_url))
        row_security.enter_every_organization()  # the operator's commands are about any organization
        try:
            user = await accounts.register(
                Actor(None, "system", "aimctl"), args.email, password, args.name, args.organization
            )
            print(f"created administrator {user.email} of organization {args.organization!r}")
        finally:
            await Tortoise.close_connections()

    asyncio.run(create())


def _unlock(args: argparse.Namespace, settings: Settings) -> None:
    from tortoise import Tortoise

    from aim_identity.actors import Actor
    from aim_identity.auth import accounts
    from aim_identity.db import tortoise_config

    async def unlock() -> None:
        await Tortoise.init(config=tortoise_config(settings.database_url))
        row_security.enter_every_organization()  # the operator's commands are about any organization
        try:
            forgiven = await accounts.unlock(Actor(None, "system", "aimctl"), args.email)
            print(f"{args.email}: {forgiven} recent failed sign-in(s) forgiven; the account may sign in again")
        finally:
            await Tortoise.close_connections()

    asyncio.run(unlock())


def _verify_audit(args: argparse.Namespace, settings: Settings) -> None:
    import uuid

    from tortoise import Tortoise

    from aim_identity import ids
    from aim_identity.audit import verification
    from aim_identity.auth.keyring import load_keyring
    from aim_identity.db import tortoise_config
    from aim_identity.errors import NotFound
    from aim_identity.models import Organization

    def _organization_id(value: str) -> uuid.UUID | None:
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
        try:
            return ids.decode(value, "Organization")
        except NotFound:
            return None

    async def check() -> int:
        await Tortoise.init(config=tortoise_config(settings.database_url))
        row_security.enter_every_organization()  # the operator's commands are about any organization
        try:
            keyring = await load_keyring(settings)
            if args.org:
                wanted = _organization_id(args.org)
                organizations = await Organization.filter(id=wanted) if wanted else []
                if not organizations:
                    print(f"aimctl: no such organization: {args.org}")
                    return 2
            else:
                organizations = await Organization.all().order_by("created_at")
            broken = 0
            for org in organizations:
                found = await verification.verify(org.id, keyring)
                gid = ids.encode("Organization", org.id)
                if found.valid:
                    print(f"{gid}: valid, {found.checked_entries} entries")
                else:
                    broken += 1
                    print(f"{gid}: BROKEN at entry {found.first_invalid_sequence}: {found.reason}")
            return 1 if broken else 0
        finally:
            await Tortoise.close_connections()

    sys.exit(asyncio.run(check()))


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="aimctl", description="AIM: agent identity management")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--workers", type=int, default=1, help="API processes on the one port (PostgreSQL and Redis only; default 1)"
    )
    serve.set_defaults(run=_serve)
    commands.add_parser("worker", help="run the background workers (the outbox relay)").set_defaults(run=_worker)
    migrate = commands.add_parser("migrate", help="apply pending database migrations")
    migrate.add_argument("--to", metavar="MIGRATION", help="stop after this one, e.g. 0006_mcp_server_agents_index")
    migrate.set_defaults(run=_migrate)
    commands.add_parser("schema", help="print the GraphQL SDL").set_defaults(run=_schema)
    shown = commands.add_parser("settings", help="print the settings in effect (secrets masked)")
    shown.add_argument("--markdown", action="store_true", help="print the README's table of every variable")
    shown.set_defaults(run=_settings)
    admin = commands.add_parser("create-admin", help="create an organization and its first administrator")
    admin.add_argument("--email", required=True)
    admin.add_argument("--name", required=True)
    admin.add_argument("--organization", required=True)
    admin.add_argument("--password", help="prompted for when absent")
    admin.set_defaults(run=_create_admin)
    unlock = commands.add_parser("unlock", help="forgive an account's failed sign-ins (its lockout), from the shell")
    unlock.add_argument("--email", required=True)
    unlock.set_defaults(run=_unlock)
    audit = commands.add_parser(
        "verify-audit", help="check the audit chains (exit 1 if one is broken); names the first bad entry and why"
    )
    audit.add_argument("--org", help="one organization, by its ID (global or UUID); every one by default")
    audit.set_defaults(run=_verify_audit)
    args = parser.parse_args(argv)
    try:
        settings = config.load()
    except config.SettingsError as exc:
        sys.exit(f"aimctl: the settings are not usable:\n{exc}")
    try:
        args.run(args, settings)
    except KeyboardInterrupt:
        sys.exit(130)
