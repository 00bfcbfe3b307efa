"""Opaque global IDs: base64 of `<Type>:<uuid>` (or two UUIDs for an object that names its parent); a
malformed or mistyped one is simply not found."""

from __future__ import annotations

import base64
import uuid

import pytest

from aim_identity import ids
from aim_identity.errors import BadUserInput, NotFound

PK, OTHER = uuid.UUID("6fa459ea-ee8a-3ca4-894e-db77e160355e"), uuid.UUID(int=2)


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


@pytest.mark.parametrize(
    "spelling",
    [str(PK).upper(), PK.hex, f"{{{PK}}}", f"urn:uuid:{PK}"],
    ids=["upper-case", "no-dashes", "braces", "urn"],
)
def test_another_spelling_of_the_same_uuid_is_refused(spelling: str):
    gid = base64.b64encode(f"Agent:{spelling}".encode()).decode()
    with pytest.raises(BadUserInput):
        ids.decode(gid, "Agent")


def test_another_base64_of_the_same_text_is_refused():
    canonical = ids.encode("User", PK)  # 41 bytes: the last character carries two bits of padding
    assert canonical.endswith("=")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = canonical[-2]
    other = canonical[:-2] + alphabet[alphabet.index(last) ^ 1] + "="  # same bytes, other spare bits
    assert base64.b64decode(other) == base64.b64decode(canonical) and other != canonical
    with pytest.raises(BadUserInput):
        ids.decode(other, "User")
