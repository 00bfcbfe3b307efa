"""The sign-up rules of auth/registration.py, called directly: what each AIM_REGISTRATION mode lets
through, and the life of a sign-up code (once, for 30 minutes, five wrong tries)."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from aim_identity.actors import Actor
from aim_identity.auth import accounts, registration
from aim_identity.errors import BadUserInput, Forbidden
from aim_identity.mail import Mailer
from aim_identity.models import RegistrationCode
from tests.support import PASSWORD

pytestmark = pytest.mark.usefixtures("server")  # the database, migrated and open


@pytest.fixture
def verified(settings):
    return settings.model_copy(update={"registration": "verified"})


def address() -> str:
    return f"someone-{uuid.uuid4().hex[:8]}@example.com"


async def mailed_code(settings, email: str, caplog) -> str:
    """Asks for a code the way requestRegistration does, and reads it from the development mailer's log."""
    mailer = Mailer(None, "AIM <aim@localhost>")
    with caplog.at_level(logging.WARNING, logger="aim_identity.mail"):
        await registration.request(settings, mailer, email)
        await mailer.drain()
    return re.findall(r"Your sign-up code is (\w+)", caplog.text)[-1]


async def test_a_code_admits_its_address_once(verified, caplog):
    email = address()
    code = await mailed_code(verified, email, caplog)
    with pytest.raises(BadUserInput):
        await registration.admit(verified, address(), code)  # another address's code
    await registration.admit(verified, email, code.upper())  # typed back in capitals: the same code
    await accounts.sign_up(Actor(None, "anonymous"), verified, email, PASSWORD, "Someone", "Acme", code)
    with pytest.raises(BadUserInput):
        await registration.admit(verified, email, code)


async def test_a_code_expires(verified, caplog):
    email = address()
    code = await mailed_code(verified, email, caplog)
    await RegistrationCode.filter(email=email).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(BadUserInput):
        await registration.admit(verified, email, code)
    assert await registration.purge_expired() >= 1
    assert not await RegistrationCode.exists(email=email)


async def test_five_wrong_codes_spend_the_right_one(verified, caplog):
    email = address()
    code = await mailed_code(verified, email, caplog)
    for _ in range(registration.MAX_TRIES):
        with pytest.raises(BadUserInput):
            await registration.admit(verified, email, "wrongwrong")
    with pytest.raises(BadUserInput):
        await registration.admit(verified, email, code)
    # A new request starts afresh.
    await registration.admit(verified, email, await mailed_code(verified, email, caplog))


async def test_each_mode_admits_what_it_says(settings, caplog):
    email = address()
    open_, closed = (settings.model_copy(update={"registration": mode}) for mode in ("open", "closed"))
    await registration.admit(open_, email, None)  # no code needed
    await registration.admit(open_, email, await mailed_code(open_, email, caplog))  # nor refused
    for call in (registration.admit(closed, email, None), registration.request(closed, Mailer(None, "x"), email)):
        with pytest.raises(Forbidden):
            await call
