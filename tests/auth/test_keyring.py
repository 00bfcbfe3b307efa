"""The service's keys derive from its secret: every replica signs and seals alike, and a retired
secret still verifies and opens what it made."""

from __future__ import annotations

import pytest

from aim_identity.auth.keyring import Keyring, Unsealable

OLD, NEW = "old-secret-" + "o" * 40, "new-secret-" + "n" * 40


def test_a_sealed_value_opens_only_where_it_belongs():
    keyring = Keyring.derive(NEW)
    sealed = keyring.seal(b"JBSWY3DPEHPK3PXP", b"mfa:user-1")
    assert b"JBSWY3DPEHPK3PXP" not in sealed.encode()
    assert keyring.unseal(sealed, b"mfa:user-1") == b"JBSWY3DPEHPK3PXP"
    assert Keyring.derive(NEW).unseal(sealed, b"mfa:user-1") == b"JBSWY3DPEHPK3PXP"  # another replica
    with pytest.raises(Unsealable):
        keyring.unseal(sealed, b"mfa:user-2")  # copied onto another row
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(Unsealable):
        keyring.unseal(tampered, b"mfa:user-1")


def test_two_seals_of_one_value_differ():
    keyring = Keyring.derive(NEW)
    assert keyring.seal(b"x", b"y") != keyring.seal(b"x", b"y")


def test_a_retired_secret_still_opens_and_verifies_what_it_made():
    before = Keyring.derive(OLD)
    sealed = before.seal(b"secret", b"row")
    after = Keyring.derive(NEW, (OLD,))
    assert after.unseal(sealed, b"row") == b"secret"
    assert after.find(before.current.kid) is not None
    assert after.seal(b"secret", b"row").split(".")[1] == after.sealing[0].kid != before.sealing[0].kid
    with pytest.raises(Unsealable):
        Keyring.derive(NEW).unseal(sealed, b"row")  # once the old secret is dropped entirely
