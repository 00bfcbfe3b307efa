"""Every byte string of PROTOCOL.md, against the bytes written out by hand from the document."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone

from aim_identity import protocol

AT = datetime(2026, 11, 27, 19, 0, 0, 123456, tzinfo=UTC)
AGENT = "QWdlbnQ6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAx"
NONCE = "bm9uY2Utbm9uY2Utbm9uY2Utbm9uY2Utbm9uY2U="


def test_times_are_utc_seconds_with_a_z():
    assert protocol.rfc3339(AT) == "2026-11-27T19:00:00Z"
    assert protocol.rfc3339(AT.astimezone(timezone(timedelta(hours=-5)))) == "2026-11-27T19:00:00Z"


def test_agent_challenge():
    assert protocol.agent_challenge(AGENT, "Y2hhbGxlbmdl", NONCE, AT) == (
        b"aim/agent-challenge/v1\n" + AGENT.encode() + b"\nY2hhbGxlbmdl\n" + NONCE.encode() + b"\n2026-11-27T19:00:00Z"
    )


def test_mcp_challenge():
    assert protocol.mcp_challenge("TUNQU2VydmVyOjE=", "Y2g=", NONCE, AT) == (
        b"aim/mcp-challenge/v1\nTUNQU2VydmVyOjE=\nY2g=\n" + NONCE.encode() + b"\n2026-11-27T19:00:00Z"
    )


def test_action_without_context_hashes_an_empty_object():
    empty = hashlib.sha256(b"{}").hexdigest()
    expected = f"aim/action/v1\n{AGENT}\ndb:read\n\n2026-11-27T19:00:00Z\n{NONCE}\n{empty}".encode()
    assert protocol.action(AGENT, "db:read", None, AT, NONCE, None) == expected
    assert protocol.action(AGENT, "db:read", "", AT, NONCE, {}) == expected


def test_action_with_a_context_hashes_its_canonical_json():
    context = {"z": 1.5, "a": "zürich", "n": [3, {"b": True, "a": None}]}
    canonical = '{"a":"zürich","n":[3,{"a":null,"b":true}],"z":1.5}'.encode()
    assert (
        protocol.action(AGENT, "file:write", "/tmp/x", AT, NONCE, context)
        == (
            f"aim/action/v1\n{AGENT}\nfile:write\n/tmp/x\n2026-11-27T19:00:00Z\n{NONCE}\n"
            f"{hashlib.sha256(canonical).hexdigest()}"
        ).encode()
    )


def test_key_rotation():
    assert protocol.key_rotation(AGENT, "bmV3LWtleQ==") == f"aim/key-rotation/v1\n{AGENT}\nbmV3LWtleQ==".encode()


def test_audit_entry_hash():
    fields = {"sequence": 1, "action": "agent.create", "metadata": {"ü": 1}}
    canonical = '{"action":"agent.create","metadata":{"ü":1},"sequence":1}'.encode()
    assert (
        protocol.audit_entry_hash(protocol.AUDIT_GENESIS, fields)
        == hashlib.sha256(b"0" * 64 + b"\n" + canonical).hexdigest()
    )


def test_audit_checkpoint():
    assert (
        protocol.audit_checkpoint("T3JnOjE=", 42, "ab" * 32) == b"aim/audit-checkpoint/v1\nT3JnOjE=\n42\n" + b"ab" * 32
    )


def test_webhook_signature():
    body = b'{"kind":"threat.detected"}'
    digest = hmac.new(b"secret", b"1764270000." + body, hashlib.sha256).hexdigest()
    assert protocol.webhook_signature(b"secret", 1764270000, body) == f"t=1764270000,v1={digest}"
