"""The service's keys derive from its secret: every replica signs and seals alike, and a retired
secret still verifies and opens what it made."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from aim_identity.auth.keyring import Keyring, Unsealable, load_keyring
from aim_identity.models import RetiredSigningKey

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


async def test_a_retired_key_leaves_the_jwks_once_its_tokens_have_expired(server, settings):
    """Each retired secret's key is trusted for the longest token lifetime after it was first seen
    retired, by every replica alike (the date is kept in the database)."""
    long_ago, lately = "retired-long-ago-" + secrets.token_urlsafe(32), "retired-lately-" + secrets.token_urlsafe(32)
    old_kid = Keyring.derive(long_ago).current.kid
    await RetiredSigningKey.create(kid=old_kid)
    lifetime = max(settings.access_token_ttl, settings.agent_token_ttl)
    await RetiredSigningKey.filter(kid=old_kid).update(retired_at=datetime.now(UTC) - timedelta(seconds=lifetime + 5))

    keyring = await load_keyring(settings.model_copy(update={"retired_secret_keys": (long_ago, lately)}))
    published = {k["kid"] for k in keyring.jwks()["keys"]}
    assert Keyring.derive(lately).current.kid in published and old_kid not in published
    assert keyring.find(old_kid) is None
    # What the long-retired secret sealed still opens: sealed values outlive tokens.
    assert keyring.unseal(Keyring.derive(long_ago).seal(b"x", b"row"), b"row") == b"x"
