"""Where an agent's private key lives: the OS keyring through `keyring`, or, where there is none
(headless Linux), a file only its owner can read. AIM never sees the key.

An identity is stored as one record (one keyring entry, or one file replaced atomically), so a
crash never leaves half of it written. During a key rotation the record holds the current key and
the pending one together, until the SDK has settled which of them AIM holds."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import stat
import tempfile
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from nacl.signing import SigningKey

from aim_agent.errors import KeyStoreError

log = logging.getLogger("aim_agent")

SERVICE = "aim-agent"
# keyring ranks the real OS stores (macOS Keychain, Windows Credential Locker, Secret Service, KWallet)
# at 1 and above; what it ranks lower, such as keyrings.alt's plaintext file, is no safer than ours.
SECURE_PRIORITY = 1


class InsecureKeyStorage(UserWarning):
    """No OS keyring: the private key is kept in a file that only its owner may read."""


@dataclass(frozen=True)
class StoredIdentity:
    url: str
    name: str
    agent_id: str
    key: SigningKey
    # The new key of a rotation that has not been settled yet.
    pending: SigningKey | None = None

    def rotating(self, new_key: SigningKey) -> StoredIdentity:
        return replace(self, pending=new_key)

    def settled(self, key: SigningKey) -> StoredIdentity:
        return replace(self, key=key, pending=None)

    def dumps(self) -> str:
        record = {"version": 1, "url": self.url, "name": self.name, "agentId": self.agent_id, "key": _seed(self.key)}
        if self.pending is not None:
            record["pendingKey"] = _seed(self.pending)
        return json.dumps(record)

    @classmethod
    def loads(cls, text: str) -> StoredIdentity:
        try:
            record = json.loads(text)
            pending = record.get("pendingKey")
            return cls(
                record["url"],
                record["name"],
                record["agentId"],
                _key(record["key"]),
                _key(pending) if pending else None,
            )
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise KeyStoreError(f"the stored identity is unreadable ({type(exc).__name__})") from None


def _seed(key: SigningKey) -> str:
    return base64.b64encode(bytes(key)).decode()


def _key(seed: str) -> SigningKey:
    return SigningKey(base64.b64decode(seed, validate=True))


def public_key(key: SigningKey) -> str:
    return base64.b64encode(bytes(key.verify_key)).decode()


def account(url: str, name: str) -> str:
    return f"{url}#{name}"


class Store(Protocol):
    def load(self, url: str, name: str) -> StoredIdentity | None: ...
    def save(self, identity: StoredIdentity) -> None: ...
    def delete(self, url: str, name: str) -> bool: ...


class KeyringStore:
    """One keyring entry per identity, under the service `aim-agent` and the account `<url>#<name>`."""

    def __init__(self, backend: KeyringBackend | None = None) -> None:
        self.backend = backend or keyring.get_keyring()

    def load(self, url: str, name: str) -> StoredIdentity | None:
        try:
            text = self.backend.get_password(SERVICE, account(url, name))
        except keyring.errors.KeyringError as exc:
            raise KeyStoreError(f"the keyring could not be read: {exc}") from None
        return None if text is None else StoredIdentity.loads(text)

    def save(self, identity: StoredIdentity) -> None:
        try:
            self.backend.set_password(SERVICE, account(identity.url, identity.name), identity.dumps())
        except keyring.errors.KeyringError as exc:
            raise KeyStoreError(f"the keyring could not be written: {exc}") from None

    def delete(self, url: str, name: str) -> bool:
        try:
            self.backend.delete_password(SERVICE, account(url, name))
        except keyring.errors.PasswordDeleteError:
            return False
        return True


class FileStore:
    """One JSON file per identity in a directory of mode 0700, each file 0600, written to a temporary
    file and renamed over the old one. A file that others may read is refused, as ssh refuses a key."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, url: str, name: str) -> Path:
        return self.directory / (hashlib.sha256(account(url, name).encode()).hexdigest()[:32] + ".json")

    def load(self, url: str, name: str) -> StoredIdentity | None:
        path = self.path(url, name)
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            return None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyStoreError(f"{path} may be read by others (mode {stat.S_IMODE(mode):o}); it must be 0600")
        return StoredIdentity.loads(path.read_text())

    def save(self, identity: StoredIdentity) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")  # mkstemp makes it 0600
        try:
            with os.fdopen(fd, "w") as file:
                file.write(identity.dumps())
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path(identity.url, identity.name))
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a power cut
        finally:
            os.close(directory)

    def delete(self, url: str, name: str) -> bool:
        try:
            self.path(url, name).unlink()
        except FileNotFoundError:
            return False
        return True


def home() -> Path:
    """`AIM_SDK_HOME`, or `aim-agent` in the XDG configuration directory."""
    if explicit := os.environ.get("AIM_SDK_HOME"):
        return Path(explicit)
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "aim-agent"


def default_store(choice: str | None = None) -> Store:
    """`choice` (or `AIM_SDK_KEY_STORE`): `keyring` (whatever backend keyring is configured with),
    `file`, or `auto`: the OS keyring when keyring ranks one as secure, else the file, with a warning."""
    choice = choice or os.environ.get("AIM_SDK_KEY_STORE") or "auto"
    if choice not in {"auto", "keyring", "file"}:
        raise KeyStoreError(f"unknown key store {choice!r}: use auto, keyring or file")
    backend = keyring.get_keyring()
    if choice == "keyring":
        if isinstance(backend, fail.Keyring | null.Keyring):
            raise KeyStoreError(f"keyring has no usable backend ({type(backend).__name__})")
        return KeyringStore(backend)
    if choice == "auto" and backend.priority >= SECURE_PRIORITY:
        return KeyringStore(backend)
    directory = home() / "identities"
    if choice == "auto":
        message = (
            f"No OS keyring is available: AIM agent keys are kept in {directory}, readable only by you (0600). "
            "Install a keyring backend (Secret Service, KWallet) to keep them there instead."
        )
        warnings.warn(message, InsecureKeyStorage, stacklevel=3)
        log.warning(message)
    return FileStore(directory)
