"""Every byte string of PROTOCOL.md, against the bytes written out by hand from the document, and
against the golden vectors that SDKs in any language test against."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from nacl.signing import SigningKey

from aim_identity import protocol

REPO = Path(__file__).parent.parent

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


def test_the_fast_canonical_json_is_rfc_8785_exactly():
    """protocol.canonical takes the json module's path where it gives RFC 8785's bytes: random values
    of every kind, floats and keys past the Basic Multilingual Plane included, come out the same."""
    import random

    import rfc8785

    rng = random.Random(8785)
    alphabet = ["a", "Z", "é", "\u2028", "\n", '"', "\\", "\x01", "\x7f", "€", "\uffff", "\U0001f600", " "]

    def text() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))

    def value(depth: int = 0):
        kind = rng.randint(0, 8 if depth < 3 else 5)
        if kind == 0:
            return None
        if kind == 1:
            return rng.choice([True, False])
        if kind == 2:
            return rng.choice([0, -1, 7, 2**53 - 1, -(2**53 - 1), rng.randint(-(10**9), 10**9)])
        if kind == 3:
            return rng.choice([0.5, 8.0, -3.75, 1e21, 1e-7, rng.uniform(-1e6, 1e6)])
        if kind in (4, 5):
            return text()
        if kind in (6, 7):
            return {text(): value(depth + 1) for _ in range(rng.randint(0, 4))}
        return [value(depth + 1) for _ in range(rng.randint(0, 4))]

    for _ in range(3000):
        sample = value()
        assert protocol.canonical(sample) == rfc8785.dumps(sample), sample
        fields = {"organizationId": "T3Jn", "sequence": 7, "action": "x.y", "targetId": None, "metadata": sample}
        expected = hashlib.sha256(b"0" * 64 + b"\n" + rfc8785.dumps(fields)).hexdigest()
        assert protocol.audit_entry_hash("0" * 64, fields) == expected


# ---- the golden vectors (tests/vectors/protocol.json), which the SDK tests against as well

VECTORS = json.loads((REPO / "tests" / "vectors" / "protocol.json").read_text(encoding="utf-8"))
KEYS = {name: SigningKey(bytes.fromhex(k["seedHex"])) for name, k in VECTORS["keys"].items()}


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _signed_as_pinned(vector: dict, message: bytes) -> None:
    assert message == vector["message"].encode() == base64.b64decode(vector["messageBase64"])
    assert base64.b64encode(KEYS[vector["signer"]].sign(message).signature).decode() == vector["signature"]


def test_the_vector_keys_are_the_pinned_ones():
    for name, key in KEYS.items():
        assert base64.b64encode(bytes(key.verify_key)).decode() == VECTORS["keys"][name]["publicKey"]


def test_the_challenge_vectors():
    agent, mcp = VECTORS["agentChallenge"], VECTORS["mcpChallenge"]
    a, m = agent["input"], mcp["input"]
    _signed_as_pinned(
        agent, protocol.agent_challenge(a["agentId"], a["challengeId"], a["nonce"], _time(a["expiresAt"]))
    )
    _signed_as_pinned(
        mcp, protocol.mcp_challenge(m["mcpServerId"], m["challengeId"], m["nonce"], _time(m["expiresAt"]))
    )


def test_the_action_vectors():
    for vector in VECTORS["action"]:
        i = vector["input"]
        assert protocol.canonical(i["context"] or {}) == vector["canonicalContext"].encode(), vector["title"]
        assert protocol.context_digest(i["context"]) == vector["contextDigest"]
        message = protocol.action(
            i["agentId"], i["capability"], i["resource"], _time(i["timestamp"]), i["nonce"], i["context"]
        )
        _signed_as_pinned(vector, message)


def test_the_key_rotation_vector():
    vector = VECTORS["keyRotation"]
    assert vector["input"]["newPublicKey"] == VECTORS["keys"]["agentNext"]["publicKey"]
    _signed_as_pinned(vector, protocol.key_rotation(vector["input"]["agentId"], vector["input"]["newPublicKey"]))


def test_the_audit_chain_and_checkpoint_vectors():
    previous = protocol.AUDIT_GENESIS
    for entry in VECTORS["auditChain"]:
        assert entry["previousHash"] == previous
        assert protocol.canonical(entry["fields"]) == entry["canonicalFields"].encode()
        previous = protocol.audit_entry_hash(previous, entry["fields"])
        assert previous == entry["hash"]
    checkpoint = VECTORS["auditCheckpoint"]
    assert checkpoint["input"]["hash"] == previous
    i = checkpoint["input"]
    _signed_as_pinned(checkpoint, protocol.audit_checkpoint(i["organizationId"], i["sequence"], i["hash"]))


def test_the_offline_export_verifier_hashes_the_vector_chain_alike():
    """scripts/verify_audit_export.py has its own canonical JSON (standard library only)."""
    spec = importlib.util.spec_from_file_location("verify_audit_export", REPO / "scripts" / "verify_audit_export.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    for entry in VECTORS["auditChain"]:
        fields = dict(entry["fields"])
        organization_id = fields.pop("organizationId")
        assert script.entry_hash(organization_id, {**fields, "previousHash": entry["previousHash"]}) == entry["hash"]


def test_the_webhook_vector():
    i = VECTORS["webhookSignature"]["input"]
    header = protocol.webhook_signature(i["secret"].encode(), i["timestamp"], i["body"].encode())
    assert header == VECTORS["webhookSignature"]["header"]
