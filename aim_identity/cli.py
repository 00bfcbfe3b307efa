"""aimctl: serve, worker, migrate, create-admin, unlock, schema, settings."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import logging
import sys

from aim_identity import config
from aim_identity.config import Settings


def _serve(args: argparse.Namespace, settings: Settings) -> None:
    import uvicorn

    from aim_identity.app import create_app

    # The address given on the command line is the one served, and the issuer's default names it.
    settings = settings.model_copy(update={"host": args.host or settings.host, "port": args.port or settings.port})
    app = create_app(settings)
    # What is built by now (modules, the schema) lives as long as the process: frozen, the collector
    # stops rescanning it, so full collections under load pause the requests in flight far less.
    gc.freeze()
    # No permessage-deflate: it keeps zlib state for every idle WebSocket, and events are small.
    # The sans-I/O WebSocket protocol runs no keep-alive and transfer tasks per connection. A client
    # message is held to the HTTP body limit (uvicorn's own is 16 MiB, buffered per connection).
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_max_size=settings.max_request_bytes,
        forwarded_allow_ips=list(settings.trusted_proxies),
    )


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
        try:
            forgiven = await accounts.unlock(Actor(None, "system", "aimctl"), args.email)
            print(f"{args.email}: {forgiven} recent failed sign-in(s) forgiven; the account may sign in again")
        finally:
            await Tortoise.close_connections()

    asyncio.run(unlock())


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="aimctl", description="AIM: agent identity management")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
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
    args = parser.parse_args(argv)
    try:
        settings = config.load()
    except config.SettingsError as exc:
        sys.exit(f"aimctl: the settings are not usable:\n{exc}")
    try:
        args.run(args, settings)
    except KeyboardInterrupt:
        sys.exit(130)
