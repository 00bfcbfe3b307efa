"""Opaque global IDs: base64 of `<Type>:<uuid>` (or two UUIDs for an object that names its parent); a
malformed or mistyped one is simply not found."""

from __future__ import annotations

import base64
import uuid

import pytest

from aim_identity import ids
from aim_identity.errors import NotFound

PK, OTHER = uuid.UUID(int=1), uuid.UUID(int=2)


def test_an_id_is_the_base64_of_its_type_and_uuid():
    gid = ids.encode("Agent", PK)
    assert base64.b64decode(gid) == f"Agent:{PK}".encode()
    assert ids.decode(gid, "Agent") == PK
    assert ids.parse(gid) == ("Agent", str(PK))


def test_an_id_of_two_names_parent_and_object():
    gid = ids.encode("VerificationChallenge", PK, OTHER)
    assert base64.b64decode(gid) == f"VerificationChallenge:{PK}/{OTHER}".encode()
    assert ids.decode_pair(gid, "VerificationChallenge") == (PK, OTHER)


@pytest.mark.parametrize(
    ("gid", "type_name"),
    [
        (ids.encode("User", PK), "Agent"),  # another type
        (ids.encode("Agent", PK, OTHER), "Agent"),  # two where one is wanted
        (ids.encode("VerificationChallenge", PK), "VerificationChallenge"),  # one where two are wanted
        (base64.b64encode(b"Agent:not-a-uuid").decode(), "Agent"),
        (base64.b64encode(b"Agent").decode(), "Agent"),
        ("not base64!", "Agent"),
        (base64.b64encode(b"\xff\xfe").decode(), "Agent"),
    ],
)
def test_a_wrong_id_is_not_found(gid: str, type_name: str):
    with pytest.raises(NotFound):
        if type_name == "VerificationChallenge":
            ids.decode_pair(gid, type_name)
        else:
            ids.decode(gid, type_name)
