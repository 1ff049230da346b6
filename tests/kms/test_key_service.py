"""The key service over a real metadata store (SQLite), with a clock the tests move instead of waiting days."""

from __future__ import annotations

import pytest

from shipyard.errors import KmsError, ValidationError
from shipyard.kms import envelope
from shipyard.kms.keys import DAY, KeyService
from shipyard.metastore import open_metastore


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def keys(tmp_path, clock):
    meta = open_metastore(f"sqlite:///{tmp_path / 'meta.db'}")
    yield KeyService(meta, envelope.new_key(), "us-east-1", "123456789012", clock=clock)
    meta.close()


def _code(excinfo) -> str:
    return excinfo.value.code


def test_key_ids_arns_and_aliases_all_resolve(keys):
    key = keys.create_key(description="data")
    keys.create_alias("alias/data", key.key_id)
    for ref in (key.key_id, key.arn, "alias/data", keys.alias_arn("alias/data")):
        assert keys.resolve(ref).key_id == key.key_id
    with pytest.raises(KmsError) as e:
        keys.resolve("alias/nope")
    assert _code(e) == "NotFoundException"
    with pytest.raises(KmsError) as e:
        keys.create_alias("alias/data", key.key_id)
    assert _code(e) == "AlreadyExistsException"
    with pytest.raises(KmsError) as e:
        keys.create_alias("alias/aws/s3", key.key_id)
    assert _code(e) == "NotAuthorizedException"


def test_decrypt_needs_no_key_id_but_checks_one_given(keys):
    a, b = keys.create_key(), keys.create_key()
    blob, used = keys.encrypt(a.key_id, b"payload", {"ctx": "1"})
    assert used.key_id == a.key_id
    assert keys.decrypt(blob, {"ctx": "1"})[0] == b"payload"
    assert keys.decrypt(blob, {"ctx": "1"}, key_ref=a.arn)[0] == b"payload"
    with pytest.raises(KmsError) as e:
        keys.decrypt(blob, {"ctx": "1"}, key_ref=b.key_id)
    assert _code(e) == "IncorrectKeyException"
    with pytest.raises(KmsError) as e:
        keys.decrypt(blob, {"ctx": "2"})
    assert _code(e) == "InvalidCiphertextException"


def test_disabled_key_refuses_until_enabled(keys):
    key = keys.create_key()
    blob, _ = keys.encrypt(key.key_id, b"x")
    keys.set_enabled(key.key_id, False)
    for call in (lambda: keys.encrypt(key.key_id, b"x"), lambda: keys.decrypt(blob)):
        with pytest.raises(KmsError) as e:
            call()
        assert _code(e) == "DisabledException"
    keys.set_enabled(key.key_id, True)
    assert keys.decrypt(blob)[0] == b"x"


def test_deletion_window_then_purge(keys, clock):
    key = keys.create_key()
    keys.create_alias("alias/doomed", key.key_id)
    blob, _ = keys.encrypt(key.key_id, b"x")
    for days in (6, 31):
        with pytest.raises(ValidationError):
            keys.schedule_deletion(key.key_id, days)
    scheduled = keys.schedule_deletion(key.key_id, 7)
    assert scheduled.state == "PendingDeletion" and scheduled.deletion_date == clock.now + 7 * DAY
    with pytest.raises(KmsError) as e:
        keys.decrypt(blob)
    assert _code(e) == "KMSInvalidStateException"
    keys.cancel_deletion(key.key_id)  # comes back disabled, as in AWS
    assert keys.resolve(key.key_id).state == "Disabled"
    keys.set_enabled(key.key_id, True)
    assert keys.decrypt(blob)[0] == b"x"
    keys.schedule_deletion(key.key_id, 7)
    clock.now += 7 * DAY - 1
    assert keys.resolve(key.key_id).state == "PendingDeletion"  # one second before the end: still there
    clock.now += 2
    with pytest.raises(KmsError) as e:
        keys.resolve(key.key_id)
    assert _code(e) == "NotFoundException"
    with pytest.raises(KmsError) as e:
        keys.decrypt(blob)
    assert _code(e) == "NotFoundException"
    assert keys.list_aliases() == []  # its aliases went with it
    assert keys.meta.find("kms-key", key.key_id) is None


def test_rotation_keeps_old_versions(keys, clock):
    key = keys.create_key()
    old_blob, _ = keys.encrypt(key.key_id, b"old")
    keys.set_rotation(key.key_id, True, 90)
    assert keys.next_rotation(keys.resolve(key.key_id)) == clock.now + 90 * DAY
    clock.now += 91 * DAY
    new_blob, rotated = keys.encrypt(key.key_id, b"new")  # due: rotated before use
    assert len(rotated.versions) == 2
    assert envelope.read_header(new_blob).version == 2 and envelope.read_header(old_blob).version == 1
    assert keys.decrypt(old_blob)[0] == b"old" and keys.decrypt(new_blob)[0] == b"new"
    keys.rotate(key.key_id)
    assert len(keys.resolve(key.key_id).versions) == 3
    assert keys.decrypt(old_blob)[0] == b"old"


def test_material_is_stored_only_wrapped(keys):
    key = keys.create_key()
    material = keys._material(key, key.current())
    doc_text = repr(keys.meta.get("kms-key", key.key_id).doc)
    assert material.hex() not in doc_text and repr(material) not in doc_text
    other = KeyService(keys.meta, envelope.new_key(), "us-east-1", "123456789012")  # another master key
    with pytest.raises(KmsError) as e:
        other.encrypt(key.key_id, b"x")
    assert _code(e) == "KMSInternalException"


def test_data_keys(keys):
    key = keys.create_key()
    plaintext, blob, _ = keys.generate_data_key(key.key_id, key_spec="AES_256")
    assert len(plaintext) == 32 and keys.decrypt(blob)[0] == plaintext
    assert len(keys.generate_data_key(key.key_id, number_of_bytes=7)[0]) == 7
    with pytest.raises(ValidationError):
        keys.generate_data_key(key.key_id)
    with pytest.raises(ValidationError):
        keys.generate_data_key(key.key_id, number_of_bytes=16, key_spec="AES_128")


def test_concurrent_changes_are_never_lost(keys):
    """A DisableKey racing other changes of the same key (rotation, description) is kept, and so are they."""
    from concurrent.futures import ThreadPoolExecutor

    key = keys.create_key()
    calls = [lambda i=i: keys.update_description(key.key_id, f"d{i}") for i in range(20)]
    calls.insert(10, lambda: keys.set_rotation(key.key_id, True))
    calls.insert(15, lambda: keys.set_enabled(key.key_id, False))
    with ThreadPoolExecutor(8) as pool:
        for future in [pool.submit(call) for call in calls]:
            try:
                future.result(timeout=60)
            except KmsError as e:  # rotation may find the key disabled already, which is a refusal, not a loss
                assert e.code == "DisabledException"
    final = keys.resolve(key.key_id)
    assert final.state == "Disabled" and final.description.startswith("d")
    assert keys.meta.get("kms-key", key.key_id).version == 1 + len(calls) - (0 if final.rotation else 1)
