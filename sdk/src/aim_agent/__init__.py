"""The AIM agent SDK: a cryptographic identity for an AI agent in one line, and every tool call
authorized by AIM before it runs.

    from aim_agent import secure

    identity = secure("billing-agent", url="http://localhost:8000", api_key=..., capabilities=["db:read"])

    @identity.perform_action(capability="db:read", resource="invoices")
    def read_invoices(): ...
"""

from aim_agent.errors import (
    ActionDenied,
    AIMError,
    AIMUnavailable,
    KeyStoreError,
    UnknownIdentity,
    VerificationFailed,
)
from aim_agent.identity import AsyncIdentity, Decision, Verification, asecure
from aim_agent.keys import FileStore, InsecureKeyStorage, KeyringStore
from aim_agent.sync import Identity, secure

__all__ = [
    "AIMError",
    "AIMUnavailable",
    "ActionDenied",
    "AsyncIdentity",
    "Decision",
    "FileStore",
    "Identity",
    "InsecureKeyStorage",
    "KeyStoreError",
    "KeyringStore",
    "UnknownIdentity",
    "Verification",
    "VerificationFailed",
    "asecure",
    "secure",
]
