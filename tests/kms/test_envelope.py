"""The pure parts: AES-GCM sealing, the self-describing blob, and where the master key comes from."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from shipyard.errors import ValidationError
from shipyard.kms import envelope
from shipyard.kms.master import DEFAULT_FILE, ENV_FILE, ENV_KEY, load_master_key

KEY_ID = "11111111-2222-3333-4444-555555555555"


def test_blob_round_trip_names_its_key_and_version():
    material = envelope.new_key()
    blob = envelope.encrypt_blob(material, KEY_ID, 3, b"secret", {"purpose": "test"})
    assert b"secret" not in blob
    header = envelope.read_header(blob)
    assert (header.key_id, header.version) == (KEY_ID, 3)
    assert envelope.decrypt_blob(material, blob, {"purpose": "test"}) == b"secret"


def test_blob_refuses_other_context_tampering_and_other_keys():
    material = envelope.new_key()
    blob = envelope.encrypt_blob(material, KEY_ID, 1, b"secret", {"a": "1"})
    with pytest.raises(envelope.BadCiphertext):
        envelope.decrypt_blob(material, blob, {"a": "2"})
    with pytest.raises(envelope.BadCiphertext):
        envelope.decrypt_blob(material, blob)  # a context is part of what was authenticated
    flipped = bytearray(blob)
    flipped[-1] ^= 1
    with pytest.raises(envelope.BadCiphertext):
        envelope.decrypt_blob(material, bytes(flipped), {"a": "1"})
    relabelled = blob.replace(KEY_ID.encode(), KEY_ID.replace("1", "9").encode())
    with pytest.raises(envelope.BadCiphertext):
        envelope.decrypt_blob(material, relabelled, {"a": "1"})
    with pytest.raises(envelope.BadCiphertext):
        envelope.decrypt_blob(envelope.new_key(), blob, {"a": "1"})
    with pytest.raises(envelope.BadCiphertext):
        envelope.read_header(b"not a blob at all, but long enough to have a header....................")


def test_context_is_canonical():
    material = envelope.new_key()
    blob = envelope.encrypt_blob(material, KEY_ID, 1, b"x", {"b": "2", "a": "1"})
    assert envelope.decrypt_blob(material, blob, {"a": "1", "b": "2"}) == b"x"


def test_material_wrapping_is_bound_to_key_and_version():
    master = envelope.new_key()
    material = envelope.new_key()
    wrapped = envelope.wrap_material(master, KEY_ID, 1, material)
    assert material not in wrapped
    assert envelope.unwrap_material(master, KEY_ID, 1, wrapped) == material
    with pytest.raises(envelope.BadCiphertext):
        envelope.unwrap_material(master, KEY_ID, 2, wrapped)


def test_master_key_from_env_file_or_generated(tmp_path):
    key = os.urandom(32)
    assert load_master_key(tmp_path, {ENV_KEY: base64.b64encode(key).decode()}) == key
    path = tmp_path / "master.b64"
    path.write_text(base64.b64encode(key).decode() + "\n")
    assert load_master_key(tmp_path / "home", {ENV_FILE: str(path)}) == key
    home = tmp_path / "generated"
    first = load_master_key(home, {})
    assert len(first) == 32 and load_master_key(home, {}) == first  # made once, then reused
    assert stat.S_IMODE((home / DEFAULT_FILE).stat().st_mode) == 0o600


def test_master_key_refuses_bad_values(tmp_path):
    with pytest.raises(ValidationError, match=ENV_KEY):
        load_master_key(tmp_path, {ENV_KEY: base64.b64encode(b"short").decode()})
    with pytest.raises(ValidationError, match=ENV_FILE):
        load_master_key(tmp_path, {ENV_FILE: str(tmp_path / "missing")})


def test_jobs_never_inherit_the_master_key(monkeypatch):
    from shipyard.runners.base import inherited_environment

    monkeypatch.setenv(ENV_KEY, base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv(ENV_FILE, "/secrets/kms.key")
    env = inherited_environment()
    assert ENV_KEY not in env and ENV_FILE not in env
