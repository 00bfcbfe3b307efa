"""Every byte string of PROTOCOL.md, built in one place: what agents and MCP servers sign, what the
audit chain hashes and what a checkpoint signs, and the one time format all of them use.

A context line leads every signed message, so a signature made for one purpose cannot be replayed as
another. Lines are joined with a single `\\n` and no trailing newline; text is UTF-8."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import rfc8785

AGENT_CHALLENGE = "aim/agent-challenge/v1"
MCP_CHALLENGE = "aim/mcp-challenge/v1"
ACTION = "aim/action/v1"
KEY_ROTATION = "aim/key-rotation/v1"
AUDIT_CHECKPOINT = "aim/audit-checkpoint/v1"
AUDIT_GENESIS = "0" * 64


def rfc3339(at: datetime) -> str:
    """UTC with seconds precision and a `Z`: `2026-11-27T19:00:00Z`."""
    if at.tzinfo is not UTC:
        at = at.astimezone(UTC)
    # isoformat is C with no format string to parse: verifying a chain formats every entry's time.
    return at.isoformat(timespec="seconds")[:19] + "Z"


def _lines(*lines: str) -> bytes:
    return "\n".join(lines).encode()


def agent_challenge(agent_id: str, challenge_id: str, nonce: str, expires_at: datetime) -> bytes:
    return _lines(AGENT_CHALLENGE, agent_id, challenge_id, nonce, rfc3339(expires_at))


def mcp_challenge(mcp_server_id: str, challenge_id: str, nonce: str, expires_at: datetime) -> bytes:
    return _lines(MCP_CHALLENGE, mcp_server_id, challenge_id, nonce, rfc3339(expires_at))


def context_digest(context: dict[str, Any] | None) -> str:
    """Hex SHA-256 of the RFC 8785 canonical JSON of an action's context; no context counts as {}."""
    return hashlib.sha256(canonical(context or {})).hexdigest()


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


def audit_entry_hash(previous_hash: str, fields: dict[str, Any]) -> str:
    """hash_n = hex SHA-256(previousHash_n || "\\n" || RFC8785(fields of entry n))."""
    # Every field but the metadata is text, the sequence or null, under ASCII names (audit/chain.py): only
    # the metadata can need the canonicalizer.
    body = _json(fields) if _plain(fields["metadata"]) else rfc8785.dumps(fields)
    return hashlib.sha256(previous_hash.encode() + b"\n" + body).hexdigest()


# Integers JSON numbers hold exactly (IEEE doubles), which RFC 8785 writes as the json module does.
_SAFE_INTEGER = 2**53 - 1


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON. Without floats, and with no key outside the Basic Multilingual Plane
    (where sorting by code point and by UTF-16 unit part ways), it is what the json module writes
    with sorted keys, which its C encoder does several times faster: checking the value for those
    cases is cheaper than the pure-Python canonicalizer, and verifying a chain hashes every entry."""
    return _json(value) if _plain(value) else rfc8785.dumps(value)


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _json(value: Any) -> bytes:
    return _ENCODER.encode(value).encode()


def _plain(value: Any) -> bool:
    """Exact types only (a subclass of str or int is left to the canonicalizer), tested in the order
    an entry's metadata needs them."""
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return True
    if kind is int:
        return -_SAFE_INTEGER <= value <= _SAFE_INTEGER
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not (key.isascii() or max(key) <= "\uffff"):
                return False
            if type(item) is not str and not _plain(item):
                return False
        return True
    if kind is list:
        return all(_plain(item) for item in value)
    return False  # a float, or anything else: the canonicalizer decides


def audit_checkpoint(organization_id: str, sequence: int, entry_hash: str) -> bytes:
    return _lines(AUDIT_CHECKPOINT, organization_id, str(sequence), entry_hash)


def webhook_signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The `X-AIM-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
