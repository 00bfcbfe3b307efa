"""Sign-up and sign-in resist abuse. Attempts are limited per address before any password is hashed;
with verified sign-up, an address that already has an account answers exactly as a new one does (its
owner is sent a notice, not a code); and a lockout cannot keep an account's owner out for good (an MFA
recovery code opens it, and `aimctl unlock` is the operator's way back)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import time
import uuid
from dataclasses import dataclass, field

import pyotp
import pytest_asyncio
from aiosmtpd.controller import Controller

from aim_identity.auth import accounts, registration
from aim_identity.mail import Mailer
from aim_identity.models import User
from tests.conftest import free_port
from tests.schema.test_query_count import counting
from tests.servers import serving
from tests.support import LOGIN, PASSWORD, Api, Org, aimctl, login

REQUEST = "mutation($i: RequestRegistrationInput!) { requestRegistration(input: $i) { ok } }"
REGISTER = "mutation($i: RegisterInput!) { register(input: $i) { accessToken user { id email } } }"


@dataclass
class Inbox:
    """A real SMTP server on loopback, keeping what it is sent."""

    messages: list[email.message.EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    async def to(self, address: str, timeout: float = 5.0) -> email.message.EmailMessage:
        for _ in range(int(timeout / 0.05)):
            for message in self.messages:
                if message["To"] == address:
                    self.messages.remove(message)
                    return message
            await asyncio.sleep(0.05)
        raise AssertionError(f"no mail reached {address}")


@dataclass
class Server:
    url: str
    inbox: Inbox


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def verified(settings, tmp_path_factory):
    """A server whose sign-up is verified by mail, with small per-address limits."""
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        async with serving(
            settings,
            tmp_path_factory.mktemp("signup"),
            AIM_REGISTRATION="verified",
            AIM_SMTP_URL=f"smtp://127.0.0.1:{port}",
            AIM_SIGNUP_RATE="6/hour",
            AIM_LOGIN_RATE="8/minute",
        ) as served:
            yield Server(served.url, inbox)
    finally:
        controller.stop()


def sign_up(address: str, code: str | None = "aaaaaaaaaa") -> dict:
    return {
        "email": address,
        "password": PASSWORD,
        "name": "Someone",
        "organizationName": "Acme",
        "verificationCode": code,
    }


def text(message: email.message.EmailMessage) -> str:
    return message.get_content()


def code_in(message: email.message.EmailMessage) -> str:
    return re.search(r"Your sign-up code is (\w+)", text(message)).group(1)


async def test_an_address_with_an_account_answers_as_a_new_one(verified: Server):
    new, taken = f"new-{uuid.uuid4().hex[:8]}@example.com", f"taken-{uuid.uuid4().hex[:8]}@example.com"
    # `taken` gets an account first, the way anyone does.
    first = Api(verified.url)
    await first(REQUEST, i={"email": taken})
    await first(REGISTER, i=sign_up(taken, code_in(await verified.inbox.to(taken))))

    stranger = Api(verified.url)
    answers = [await stranger(REQUEST, i={"email": address}) for address in (new, taken)]
    assert answers[0] == answers[1] == {"requestRegistration": {"ok": True}}
    new_mail = await verified.inbox.to(new)
    assert "Your sign-up code is" in text(new_mail)
    notice = await verified.inbox.to(taken)
    assert "already has an account" in text(notice) and "sign-up code" not in text(notice)
    # Registering either without the right code fails the same way; the taken one can never have it.
    refusals = [await stranger.error(REGISTER, i=sign_up(address)) for address in (new, taken)]
    assert refusals == ["BAD_USER_INPUT", "BAD_USER_INPUT"]
    # The new one registers with its code, once.
    code = code_in(new_mail)
    assert (await Api(verified.url)(REGISTER, i=sign_up(new, code)))["register"]["user"]["email"] == new
    assert await Api(verified.url).error(REGISTER, i=sign_up(new, code)) == "BAD_USER_INPUT"


async def test_asking_for_a_code_does_the_same_work_for_a_new_and_a_taken_address(org: Org, settings):
    """The same statements, in the same order, whether the address has an account or not: what the
    answer's time could tell, it does not."""
    mailer = Mailer(None, "AIM <aim@localhost>")
    verified_settings = settings.model_copy(update={"registration": "verified"})
    statements = []
    for address in (f"nobody-{uuid.uuid4().hex[:8]}@example.com", org.admin.email):
        with counting() as records:
            await registration.request(verified_settings, mailer, accounts.normalize_email(address))
        statements.append([re.sub(r"'[^']*'|\d+", "?", r) for r in records])
    assert len(statements[0]) == len(statements[1]) and statements[0] == statements[1]


async def test_sign_up_and_sign_in_are_limited_per_address_before_any_hashing(verified: Server):
    address = Api(verified.url)
    # A password outside the policy would be refused once looked at: past the limit it never is.
    weak = {"email": "x@example.com", "password": "short", "name": "n", "organizationName": "o"}
    codes = [await address.error(REGISTER, i=weak) for _ in range(8)]
    assert codes[:6] == ["BAD_USER_INPUT"] * 6 and codes[6:] == ["RATE_LIMITED"] * 2
    # Each try names another account, so no account's own lockout is what stops them.
    tries = [await address.error(LOGIN, i=unknown()) for _ in range(10)]
    assert tries[:8] == ["UNAUTHENTICATED"] * 8 and tries[8:] == ["RATE_LIMITED"] * 2
    # Another address is not held to it.
    assert await Api(verified.url).error(LOGIN, i=unknown()) == "UNAUTHENTICATED"
    assert await Api(verified.url).error(REGISTER, i=weak) == "BAD_USER_INPUT"


def unknown() -> dict:
    return {"email": f"ghost-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD}


async def lock_out(url: str, email_address: str, settings) -> None:
    for _ in range(settings.login_max_failures):
        assert (
            await Api(url).error(LOGIN, i={"email": email_address, "password": "a wrong passphrase"})
            == "UNAUTHENTICATED"
        )


async def test_a_locked_account_with_mfa_opens_to_a_recovery_code(org: Org, url: str, settings):
    secret = (await org.admin.api("mutation { enableMfa { secret } }"))["enableMfa"]["secret"]
    recovery = (
        await org.admin.api(
            "mutation($i: ConfirmMfaInput!) { confirmMfa(input: $i) { recoveryCodes } }",
            i={"totpCode": pyotp.TOTP(secret).now()},
        )
    )["confirmMfa"]["recoveryCodes"]
    await lock_out(url, org.admin.email, settings)
    right_password = {"email": org.admin.email, "password": PASSWORD}
    assert await Api(url).error(LOGIN, i=right_password) == "RATE_LIMITED"
    # A six-digit code could be guessed past the lockout, so it opens nothing while it lasts.
    code = pyotp.TOTP(secret).at(time.time() + 30)
    assert await Api(url).error(LOGIN, i={**right_password, "totpCode": code}) == "RATE_LIMITED"
    # A recovery code is checked before the password: a wrong one tells nothing of the password.
    wrong = "abcd-efgh-jkmn-pqrs"
    assert await Api(url).error(LOGIN, i={**right_password, "totpCode": wrong}) == "UNAUTHENTICATED"
    assert (
        await Api(url).error(LOGIN, i={"email": org.admin.email, "password": "a wrong passphrase", "totpCode": wrong})
        == "UNAUTHENTICATED"
    )
    # The owner's recovery code, with the password, opens it; the lockout is over.
    opened = await Api(url)(LOGIN, i={**right_password, "totpCode": recovery[0]})
    assert opened["login"]["user"]["id"] == org.admin.user_id
    # And the app's codes work again (the one refused during the lockout was never checked).
    assert (await Api(url)(LOGIN, i={**right_password, "totpCode": code}))["login"]["user"]["id"] == org.admin.user_id


async def test_aimctl_unlock_lets_a_locked_out_account_back_in(org: Org, url: str, settings):
    person = await org.member("ADMIN")
    await lock_out(url, person.email, settings)
    assert await Api(url).error(LOGIN, i={"email": person.email, "password": PASSWORD}) == "RATE_LIMITED"
    out = await aimctl("unlock", "--email", person.email, database_url=settings.database_url)
    assert f"{settings.login_max_failures} recent failed sign-in(s) forgiven" in out
    assert (await login(url, person.email)).user_id == person.user_id
    assert await User.exists(email=person.email)


async def test_a_forwarded_address_counts_only_from_a_trusted_proxy(settings, tmp_path):
    """Behind a proxy AIM does not trust, a client cannot dodge the limit by naming another address
    in X-Forwarded-For: every attempt counts against the address the request really came from."""
    async with serving(settings, tmp_path, AIM_TRUSTED_PROXIES="192.0.2.1", AIM_LOGIN_RATE="3/minute") as served:
        tries = [await Api(served.url).error(LOGIN, i=unknown()) for _ in range(4)]
    assert tries == ["UNAUTHENTICATED"] * 3 + ["RATE_LIMITED"]
