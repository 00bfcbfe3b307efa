"""Where the private key lives: the OS keyring, or a file only its owner reads, written atomically."""

from __future__ import annotations

import os
import stat
import warnings

import keyring
import pytest
from keyring.backends import fail
from keyrings.alt.file import PlaintextKeyring
from nacl.signing import SigningKey

from aim_agent.errors import KeyStoreError
from aim_agent.keys import FileStore, InsecureKeyStorage, KeyringStore, StoredIdentity, default_store

URL = "http://127.0.0.1:8000"


def identity(name: str = "billing-agent") -> StoredIdentity:
    return StoredIdentity(URL, name, "QWdlbnQ6MQ==", SigningKey.generate())


def test_the_file_store_keeps_the_key_for_its_owner_only(tmp_path):
    store = FileStore(tmp_path / "identities")
    stored = identity()
    store.save(stored)
    path = store.path(URL, "billing-agent")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert store.load(URL, "billing-agent") == stored
    assert store.load(URL, "other-agent") is None
    assert store.load("http://elsewhere:8000", "billing-agent") is None


def test_a_rotation_in_progress_is_stored_whole_and_replaced_atomically(tmp_path):
    store = FileStore(tmp_path)
    stored = identity()
    store.save(stored)
    rotating = stored.rotating(SigningKey.generate())
    store.save(rotating)
    assert store.load(URL, "billing-agent") == rotating
    assert rotating.pending is not None
    store.save(rotating.settled(rotating.pending))
    assert store.load(URL, "billing-agent") == StoredIdentity(URL, "billing-agent", stored.agent_id, rotating.pending)
    assert [p.name for p in tmp_path.iterdir()] == [store.path(URL, "billing-agent").name]  # no temporary file left


def test_a_key_file_that_others_may_read_is_refused(tmp_path):
    store = FileStore(tmp_path)
    store.save(identity())
    os.chmod(store.path(URL, "billing-agent"), 0o644)
    with pytest.raises(KeyStoreError, match="must be 0600"):
        store.load(URL, "billing-agent")


def test_an_unreadable_record_is_a_clear_error_that_shows_no_key(tmp_path):
    store = FileStore(tmp_path)
    stored = identity()
    store.save(stored)
    path = store.path(URL, "billing-agent")
    path.write_text(path.read_text()[:-20])
    with pytest.raises(KeyStoreError, match="unreadable") as raised:
        store.load(URL, "billing-agent")
    assert stored.dumps()[60:] not in str(raised.value)


def test_the_keyring_store_keeps_one_entry_per_identity(tmp_path):
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring.cfg")
    store = KeyringStore(backend)
    first, second = identity("a"), identity("b")
    store.save(first)
    store.save(second)
    assert store.load(URL, "a") == first
    assert store.load(URL, "b") == second
    assert store.delete(URL, "a")
    assert store.load(URL, "a") is None
    assert not store.delete(URL, "a")


@pytest.fixture
def keyring_backend():
    previous = keyring.get_keyring()
    yield keyring.set_keyring
    keyring.set_keyring(previous)


def test_without_an_os_keyring_the_file_is_used_with_a_warning(tmp_path, monkeypatch, keyring_backend):
    monkeypatch.setenv("AIM_SDK_HOME", str(tmp_path))
    monkeypatch.delenv("AIM_SDK_KEY_STORE", raising=False)
    keyring_backend(fail.Keyring())
    with pytest.warns(InsecureKeyStorage, match="0600"):
        store = default_store()
    assert isinstance(store, FileStore) and store.directory == tmp_path / "identities"
    # keyrings.alt's plaintext file is no safer: keyring itself ranks it below the OS stores.
    keyring_backend(PlaintextKeyring())
    with pytest.warns(InsecureKeyStorage):
        assert isinstance(default_store(), FileStore)


def test_a_keyring_that_is_asked_for_is_used_and_a_missing_one_refused(tmp_path, keyring_backend):
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring.cfg")
    keyring_backend(backend)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store = default_store("keyring")
    assert isinstance(store, KeyringStore) and store.backend is backend
    keyring_backend(fail.Keyring())
    with pytest.raises(KeyStoreError, match="no usable backend"):
        default_store("keyring")
    with pytest.raises(KeyStoreError, match="unknown key store"):
        default_store("plaintext")
