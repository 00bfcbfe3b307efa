"""The SDK signs PROTOCOL.md's bytes exactly: the golden vectors the server tests against too."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from aim_agent import messages

VECTORS = json.loads((Path(__file__).parents[2] / "tests" / "vectors" / "protocol.json").read_text(encoding="utf-8"))
KEYS = {name: SigningKey(bytes.fromhex(k["seedHex"])) for name, k in VECTORS["keys"].items()}


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _signature(vector: dict, message: bytes) -> str:
    return base64.b64encode(KEYS[vector["signer"]].sign(message).signature).decode()


def test_a_challenge_is_signed_as_it_came_once_it_is_checked():
    for vector, subject, context in [
        (VECTORS["agentChallenge"], "agentId", messages.AGENT_CHALLENGE),
        (VECTORS["mcpChallenge"], "mcpServerId", messages.MCP_CHALLENGE),
    ]:
        received = base64.b64decode(vector["messageBase64"])
        message = messages.checked_challenge(received, vector["input"][subject], context)
        assert message == vector["message"].encode()
        assert _signature(vector, message) == vector["signature"]


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda lines: [b"aim/action/v1", *lines[1:]], "not an aim/agent-challenge/v1"),
        (lambda lines: [lines[0], b"QWdlbnQ6b3RoZXI=", *lines[2:]], "another agent"),
        (lambda lines: [*lines, b"extra"], "not an aim/agent-challenge/v1"),
        (lambda lines: lines[:4], "not an aim/agent-challenge/v1"),
    ],
)
def test_a_challenge_that_is_not_this_agents_is_refused(change, complaint):
    vector = VECTORS["agentChallenge"]
    tampered = b"\n".join(change(vector["message"].encode().split(b"\n")))
    with pytest.raises(messages.UnexpectedChallenge, match=complaint):
        messages.checked_challenge(tampered, vector["input"]["agentId"])


def test_an_mcp_challenge_is_not_signed_as_an_agent_challenge():
    vector = VECTORS["mcpChallenge"]
    with pytest.raises(messages.UnexpectedChallenge):
        messages.checked_challenge(vector["message"].encode(), vector["input"]["mcpServerId"])


def test_actions_with_and_without_context():
    for vector in VECTORS["action"]:
        i = vector["input"]
        assert messages.context_digest(i["context"]) == vector["contextDigest"], vector["title"]
        message = messages.action(
            i["agentId"], i["capability"], i["resource"], _time(i["timestamp"]), i["nonce"], i["context"]
        )
        assert message == base64.b64decode(vector["messageBase64"]), vector["title"]
        assert _signature(vector, message) == vector["signature"]


def test_key_rotation():
    vector = VECTORS["keyRotation"]
    message = messages.key_rotation(vector["input"]["agentId"], vector["input"]["newPublicKey"])
    assert message == vector["message"].encode()
    assert _signature(vector, message) == vector["signature"]
