"""Opaque global IDs (Relay): base64 of `<Type>:<uuid>`, or `<Type>:<uuid>/<uuid>` for an object that
names its parent too. A malformed or mistyped ID is not found. An ID is accepted only in the one form
the API gives out: another spelling of the same UUID (upper case, no dashes, other padding) would let
one object pass for two wherever IDs are compared as text, so it is refused (BAD_USER_INPUT)."""

from __future__ import annotations

import base64
import binascii
import uuid

from aim_identity.errors import BadUserInput, NotFound


def encode(type_name: str, *pks: uuid.UUID | str) -> str:
    return base64.b64encode(f"{type_name}:{'/'.join(str(pk) for pk in pks)}".encode()).decode()


def parse(global_id: str) -> tuple[str, str]:
    try:
        type_name, _, rest = base64.b64decode(global_id, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise NotFound("No such object") from None
    if not type_name or not rest:
        raise NotFound("No such object")
    return type_name, rest


def _uuids(global_id: str, type_name: str, count: int) -> list[uuid.UUID]:
    found_type, rest = parse(global_id)
    parts = rest.split("/")
    if found_type != type_name or len(parts) != count:
        raise NotFound(f"No such {type_name}")
    try:
        uuids = [uuid.UUID(part) for part in parts]
    except ValueError:
        raise NotFound(f"No such {type_name}") from None
    if encode(type_name, *uuids) != global_id:
        raise BadUserInput(f"Not an ID this API gives out: use {encode(type_name, *uuids)}")
    return uuids


def decode(global_id: str, type_name: str) -> uuid.UUID:
    return _uuids(global_id, type_name, 1)[0]


def decode_pair(global_id: str, type_name: str) -> tuple[uuid.UUID, uuid.UUID]:
    """The two UUIDs of an ID that names its parent: (parent, object)."""
    parent, child = _uuids(global_id, type_name, 2)
    return parent, child
