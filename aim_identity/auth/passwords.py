"""Password hashing (argon2id) and the password policy.

Policy (after NIST SP 800-63B): 12 to 256 characters, any characters, and not the email address or
its local part. Length beats composition rules, so there are none."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from aim_identity.errors import BadUserInput

MIN_LENGTH = 12
MAX_LENGTH = 256

_hasher = PasswordHasher()
# Verifying against this when the account does not exist keeps both paths equally slow.
_DUMMY_HASH = _hasher.hash("aim-dummy-password-for-timing")


def check_policy(password: str, email: str) -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise BadUserInput(f"A password needs {MIN_LENGTH} to {MAX_LENGTH} characters", field="password")
    lowered = password.lower()
    if lowered in (email.lower(), email.lower().partition("@")[0]):
        raise BadUserInput("A password may not be the email address", field="password")


# argon2 is slow and memory-hungry by design (a large fraction of a second of CPU, and 64 MiB, a hash):
# on the event loop every request and subscription of the process would wait that long per login.
# argon2-cffi releases the GIL, so it runs on these threads, one per core: a flood of logins queues here
# and cannot take more memory or cores.
_hashing = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="argon2")


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_hashing, _hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(_hashing, _verify, password_hash, password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
