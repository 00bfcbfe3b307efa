"""Opaque global IDs (Relay): base64 of `<Type>:<uuid>`. A malformed or mistyped ID is not found."""

from __future__ import annotations

import base64
import binascii
import uuid

from aim_identity.errors import NotFound


def encode(type_name: str, pk: uuid.UUID | str) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def parse(global_id: str) -> tuple[str, str]:
    try:
        type_name, _, rest = base64.b64decode(global_id, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise NotFound("No such object") from None
    if not type_name or not rest:
        raise NotFound("No such object")
    return type_name, rest


def decode(global_id: str, type_name: str) -> uuid.UUID:
    found_type, rest = parse(global_id)
    if found_type != type_name:
        raise NotFound(f"No such {type_name}")
    try:
        return uuid.UUID(rest)
    except ValueError:
        raise NotFound(f"No such {type_name}") from None
