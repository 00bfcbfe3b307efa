"""The bytes an agent signs, exactly as PROTOCOL.md writes them: a context line first, so a signature
made for one purpose cannot be replayed as another; lines joined by a single `\\n`, no trailing
newline, UTF-8. `tests/vectors/protocol.json` pins each of them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import rfc8785

AGENT_CHALLENGE = "aim/agent-challenge/v1"
MCP_CHALLENGE = "aim/mcp-challenge/v1"
ACTION = "aim/action/v1"
KEY_ROTATION = "aim/key-rotation/v1"


class UnexpectedChallenge(ValueError):
    """A challenge that is not this agent's to sign: the SDK signs nothing it did not expect."""


def rfc3339(at: datetime) -> str:
    """UTC with seconds precision and a `Z`: `2026-11-27T19:00:00Z`."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _lines(*lines: str) -> bytes:
    return "\n".join(lines).encode()


def checked_challenge(message: bytes, subject_id: str, context: str = AGENT_CHALLENGE) -> bytes:
    """`message` itself, once its first line is the challenge's context line and its second the id
    of the agent (or MCP server) that is about to sign it."""
    lines = message.split(b"\n")
    if len(lines) != 5 or lines[0] != context.encode():
        raise UnexpectedChallenge(f"the message to sign is not an {context} challenge")
    if lines[1] != subject_id.encode():
        raise UnexpectedChallenge("the challenge names another agent")
    return message


def context_digest(context: dict[str, Any] | None) -> str:
    """Hex SHA-256 of the RFC 8785 canonical JSON of an action's context; no context counts as {}."""
    return hashlib.sha256(rfc8785.dumps(context or {})).hexdigest()


def action(
    agent_id: str,
    capability: str,
    resource: str | None,
    timestamp: datetime,
    nonce: str,
    context: dict[str, Any] | None,
) -> bytes:
    return _lines(ACTION, agent_id, capability, resource or "", rfc3339(timestamp), nonce, context_digest(context))


def key_rotation(agent_id: str, new_public_key: str) -> bytes:
    return _lines(KEY_ROTATION, agent_id, new_public_key)
