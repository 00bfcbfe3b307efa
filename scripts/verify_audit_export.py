#!/usr/bin/env python3
"""Verifies an AIM audit export offline: `python verify_audit_export.py export.json jwks.json`.

It needs nothing of AIM but the export (exportAuditLogs, format JSON) and the service's JWKS
(/.well-known/jwks.json), and nothing beyond the standard library but PyNaCl. It recomputes every
entry's hash (PROTOCOL.md, "Audit chain": SHA-256 over the previous hash, a newline and the RFC 8785
canonical JSON of the entry's fields), checks that consecutive entries link, that an unfiltered export
runs from entry 1 with no gap, and that the checkpoint it carries is signed by a key in the JWKS and
matches the entry it names (or, unfiltered, that the export reaches it). Exit 0: valid; 1: not, with
the first problem; 2: the files cannot be read."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import sys
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

GENESIS = "0" * 64
HASHED = (
    "organizationId",
    "sequence",
    "occurredAt",
    "actorType",
    "actorId",
    "action",
    "targetType",
    "targetId",
    "ipAddress",
    "userAgent",
    "metadata",
)


def canonical(value: Any) -> str:
    """RFC 8785 (JSON Canonicalization Scheme) for the values JSON can hold."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{canonical(value[k])}" for k in keys) + "}"
    raise TypeError(f"not a JSON value: {value!r}")


def _number(value: float) -> str:
    """ECMAScript's Number.prototype.toString, which RFC 8785 prescribes, from Python's shortest repr."""
    if not math.isfinite(value):
        raise ValueError("JSON has no NaN or Infinity")
    if value == 0:
        return "0"
    sign, value = ("-", -value) if value < 0 else ("", value)
    mantissa, _, exponent = repr(value).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + int(exponent or 0)  # the decimal point sits after this many of `digits`
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    k, n = len(digits), point
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        e = n - 1
        text = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e > 0 else "-") + str(abs(e))
    return sign + text


def entry_hash(organization_id: str, entry: dict[str, Any]) -> str:
    fields = {name: entry.get(name) for name in HASHED} | {"organizationId": organization_id}
    return hashlib.sha256(entry["previousHash"].encode() + b"\n" + canonical(fields).encode()).hexdigest()


def verify(export: dict[str, Any], jwks: dict[str, Any]) -> str:
    """A sentence saying what holds; raises ValueError naming the first thing that does not."""
    organization_id, entries = export["organizationId"], export["entries"]
    unfiltered = not export.get("filter")
    previous: dict[str, Any] | None = None
    for entry in entries:
        sequence = entry["sequence"]
        if entry_hash(organization_id, entry) != entry["hash"]:
            raise ValueError(f"entry {sequence} was changed: its contents do not match its hash")
        if previous is None:
            if unfiltered and (sequence != 1 or entry["previousHash"] != GENESIS):
                raise ValueError(f"an unfiltered export must start at entry 1, not {sequence}")
        elif sequence == previous["sequence"] + 1:
            if entry["previousHash"] != previous["hash"]:
                raise ValueError(f"entry {sequence} does not follow entry {previous['sequence']}")
        elif unfiltered or sequence <= previous["sequence"]:
            raise ValueError(f"entry {previous['sequence'] + 1} is missing or out of order")
        previous = entry
    said = f"{len(entries)} entries verified"
    checkpoint = export.get("checkpoint")
    if checkpoint is None:
        return said + "; the export carries no checkpoint"
    keys = {k["kid"]: k for k in jwks.get("keys", [])}
    jwk = keys.get(checkpoint["keyId"])
    if jwk is None:
        raise ValueError(f"the checkpoint's key {checkpoint['keyId']} is not in the JWKS")
    signed = "\n".join(
        ["aim/audit-checkpoint/v1", organization_id, str(checkpoint["sequence"]), checkpoint["hash"]]
    ).encode()
    try:
        VerifyKey(base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))).verify(
            signed, base64.b64decode(checkpoint["signature"])
        )
    except BadSignatureError:
        raise ValueError(f"the checkpoint of entry {checkpoint['sequence']} is not signed by that key") from None
    named = next((e for e in entries if e["sequence"] == checkpoint["sequence"]), None)
    if named is not None and named["hash"] != checkpoint["hash"]:
        raise ValueError(f"entry {checkpoint['sequence']} is not the entry the checkpoint signed")
    if named is None and unfiltered:
        raise ValueError(f"the export ends before entry {checkpoint['sequence']}, which the checkpoint signed")
    return said + f"; the checkpoint of entry {checkpoint['sequence']} is signed and matches"


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.split("\n\n")[0], file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8") as f:
            export = json.load(f)
        with open(argv[2], encoding="utf-8") as f:
            jwks = json.load(f)
    except (OSError, ValueError) as exc:
        print(f"cannot read the files: {exc}", file=sys.stderr)
        return 2
    try:
        print("valid: " + verify(export, jwks))
    except (ValueError, KeyError, TypeError) as exc:
        print(f"INVALID: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
