"""`aim-agent`: the SDK from a shell or a CI job.

    aim-agent [--url URL] [--api-key KEY] [--store auto|keyring|file] [--json] COMMAND NAME ...

    register NAME [--capability C ...] [--type T] [--description D]   make (or find) and verify the identity
    verify NAME                 a challenge-response with the stored key; prints the trust score
    status NAME                 the agent as AIM sees it
    rotate-key NAME             a new key pair, PROTOCOL.md's rotation
    detect-mcp NAME [--config PATH] [--no-tools]   report Claude Desktop's MCP servers
    forget NAME                 delete the identity stored on this machine (AIM keeps the agent)

`--url` defaults to AIM_SDK_URL (else http://127.0.0.1:8000), `--api-key` to AIM_SDK_API_KEY.
Exit codes: 0 done; 1 AIM refused the request; 2 bad usage; 3 the identity did not verify, or AIM
no longer knows it; 4 AIM could not be reached; 5 the key store failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from aim_agent.connection import base_url
from aim_agent.errors import AIMError, AIMUnavailable, KeyStoreError, UnknownIdentity, VerificationFailed
from aim_agent.keys import default_store
from aim_agent.sync import Identity, secure

DONE, REFUSED, USAGE, NOT_VERIFIED, UNREACHABLE, STORE_FAILED = 0, 1, 2, 3, 4, 5


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="aim-agent", description=__doc__.splitlines()[0])
    root.add_argument("--url", default=os.environ.get("AIM_SDK_URL", "http://127.0.0.1:8000"))
    root.add_argument("--api-key", default=os.environ.get("AIM_SDK_API_KEY"))
    root.add_argument("--store", choices=["auto", "keyring", "file"], default=None)
    root.add_argument("--json", action="store_true", help="print one JSON object")
    commands = root.add_subparsers(dest="command", required=True)
    register = commands.add_parser("register", help="make (or find) the identity and verify it")
    register.add_argument("--capability", action="append", default=[], dest="capabilities")
    register.add_argument("--type", dest="agent_type")
    register.add_argument("--description")
    commands.add_parser("verify", help="a challenge-response with the stored key")
    commands.add_parser("status", help="the agent as AIM sees it")
    commands.add_parser("rotate-key", help="a new key pair")
    detect = commands.add_parser("detect-mcp", help="report Claude Desktop's MCP servers")
    detect.add_argument("--config", help="claude_desktop_config.json, or the folder holding it")
    detect.add_argument("--no-tools", action="store_true", help="do not start stdio servers to list their tools")
    commands.add_parser("forget", help="delete the identity stored on this machine")
    for command in commands.choices.values():
        command.add_argument("name")
    return root


def _identity(args: argparse.Namespace, register: bool = False) -> Identity:
    return secure(
        args.name,
        url=args.url,
        api_key=args.api_key,
        capabilities=getattr(args, "capabilities", []),
        agent_type=getattr(args, "agent_type", None),
        description=getattr(args, "description", None),
        store=args.store,
        register=register,
    )


def _verified(identity: Identity) -> dict[str, Any]:
    outcome = identity.verify()
    return {
        "agentId": identity.agent_id,
        "name": identity.name,
        "verified": outcome.verified,
        "trustScore": outcome.trust_score,
        "tokenExpiresAt": outcome.token_expires_at.isoformat() if outcome.token_expires_at else None,
    }


def register(args: argparse.Namespace) -> dict[str, Any]:
    with _identity(args, register=True) as identity:
        return {**_verified(identity), "publicKey": identity.public_key}


def verify(args: argparse.Namespace) -> dict[str, Any]:
    with _identity(args) as identity:
        return _verified(identity)


def status(args: argparse.Namespace) -> dict[str, Any]:
    with _identity(args) as identity:
        return identity.status()


def rotate_key(args: argparse.Namespace) -> dict[str, Any]:
    with _identity(args) as identity:
        previous = identity.public_key
        return {"agentId": identity.agent_id, "previousPublicKey": previous, "publicKey": identity.rotate_key()}


def detect_mcp(args: argparse.Namespace) -> dict[str, Any]:
    with _identity(args) as identity:
        registered = identity.detect_mcp_servers(args.config, list_tools=not args.no_tools)
        return {"agentId": identity.agent_id, "registered": registered}


def forget(args: argparse.Namespace) -> dict[str, Any]:
    return {"name": args.name, "forgotten": default_store(args.store).delete(base_url(args.url), args.name)}


COMMANDS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "register": register,
    "verify": verify,
    "status": status,
    "rotate-key": rotate_key,
    "detect-mcp": detect_mcp,
    "forget": forget,
}


def _print(args: argparse.Namespace, result: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key}: {json.dumps(value) if isinstance(value, list | dict) else value}")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result = COMMANDS[args.command](args)
    except (AIMError, FileNotFoundError) as exc:
        code = (
            UNREACHABLE
            if isinstance(exc, AIMUnavailable)
            else NOT_VERIFIED
            if isinstance(exc, VerificationFailed | UnknownIdentity)
            else STORE_FAILED
            if isinstance(exc, KeyStoreError)
            else REFUSED
        )
        error = {"error": type(exc).__name__, "code": getattr(exc, "code", None), "message": str(exc)}
        if args.json:
            print(json.dumps(error))
        else:
            print(f"aim-agent: {exc}", file=sys.stderr)
        return code
    _print(args, result)
    return DONE


if __name__ == "__main__":
    sys.exit(main())
