"""Descriptors at rest: AES-GCM with a key per subject, wrapped by the master key (from
FACES_MASTER_KEY, KMS on moto's server, or the development key)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from io import StringIO

import pytest
from django.db import connection

from modules.faces.gallery import cache, crypto, keys, synthetic
from modules.faces.gallery import services as gallery
from modules.faces.models import GalleryState, Reference, SubjectKey
from tests.deploy.aws import CREDENTIALS, MotoServer


@pytest.fixture(autouse=True)
def fresh_keys() -> Iterator[None]:
    keys.forget()
    cache.forget()
    yield
    keys.forget()
    cache.forget()


def test_a_sealed_value_opens_only_with_its_key_and_its_binding():
    key, other = crypto.new_key(), crypto.new_key()
    aad = crypto.reference_aad("3f2a", 7)
    sealed = crypto.seal(key, b"descriptor", aad)
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])

    assert crypto.open_sealed(key, sealed, aad) == b"descriptor"
    assert crypto.seal(key, b"descriptor", aad) != sealed  # a fresh nonce every time
    for wrong_key, wrong_aad, value in (
        (other, aad, sealed),
        (key, crypto.reference_aad("3f2a", 8), sealed),  # moved to another subject's row
        (key, crypto.reference_aad("9999", 7), sealed),  # moved to another reference
        (key, aad, tampered),
        (key, aad, sealed[:20]),
    ):
        with pytest.raises(crypto.Unreadable):
            crypto.open_sealed(wrong_key, value, wrong_aad)


def test_the_database_holds_no_plaintext_descriptor_or_key(db):
    vectors = synthetic.synthetic_descriptors(3, seed=4)
    synthetic.synthetic_enroll(count=3, seed=4, descriptors=vectors)

    with connection.cursor() as cursor:
        cursor.execute("SELECT descriptor FROM faces_reference")
        stored = [bytes(row[0]) for row in cursor.fetchall()]
        cursor.execute("SELECT wrapped FROM faces_subjectkey")
        wrapped = [bytes(row[0]) for row in cursor.fetchall()]

    plaintexts = [vector.astype("<f8").tobytes() for vector in vectors]
    assert all(len(value) == 1053 for value in stored)
    assert not any(plain[:64] in value for plain in plaintexts for value in stored)
    assert all(len(value) == 1 + 12 + 32 + 16 for value in wrapped)


def test_a_master_key_from_the_settings_wraps_the_subject_keys(db, settings):
    master = os.urandom(32)
    settings.FACES_MASTER_KEY = base64.b64encode(master).decode()
    subject = gallery.subject_create(name="Someone", legal_basis="legal_claims")

    wrapped = bytes(SubjectKey.objects.get(subject=subject).wrapped)

    assert len(crypto.unwrap_key(master, wrapped, subject.pk)) == 32
    with pytest.raises(crypto.Unreadable):  # not the tests' default key
        crypto.unwrap_key(
            keys.parse_master_key(os.environ["FACES_MASTER_KEY"]), wrapped, subject.pk
        )


def test_in_development_the_master_key_is_generated_once_into_var(db, settings, tmp_path):
    settings.DEBUG, settings.BASE_DIR = True, tmp_path
    settings.FACES_MASTER_KEY = settings.FACES_KMS_KEY_ID = ""
    subject = gallery.subject_create(name="Someone", legal_basis="legal_claims")
    path = tmp_path / "var" / "faces-master-key"

    assert path.stat().st_mode & 0o777 == 0o600
    # Another process, and another SECRET_KEY (as `make run` writes into .env): same key.
    keys.forget()
    settings.SECRET_KEY = "another-secret-key-" * 3
    assert keys.master_key() == keys.parse_master_key(path.read_text().strip())
    assert len(gallery.subject_key(subject.pk)) == 32


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"short").decode()])
def test_a_malformed_master_key_stops_start_up_naming_the_variable(value):
    env = {**os.environ, "FACES_MASTER_KEY": value, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode != 0
    assert "FACES_MASTER_KEY must be base64 of exactly 32 random bytes" in result.stderr


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("faces-kms") / "moto.log").start()
    try:
        yield server
    finally:
        server.stop()


def test_with_kms_the_master_key_is_stored_only_as_kms_ciphertext(db, settings, moto, monkeypatch):
    for name, value in {**CREDENTIALS, "AWS_ENDPOINT_URL": moto.url}.items():
        monkeypatch.setenv(name, value)
    key_id = moto.client("kms").create_key(Description="portal faces")["KeyMetadata"]["KeyId"]
    settings.FACES_KMS_KEY_ID = key_id
    synthetic.synthetic_enroll(count=5, seed=8)
    stored = bytes(GalleryState.objects.get(pk=1).master_key_wrapped)
    master = keys.master_key()

    keys.forget()  # a new process: KMS decrypts the stored data key
    again = keys.master_key()
    decrypted = moto.client("kms").decrypt(CiphertextBlob=stored, KeyId=key_id)["Plaintext"]

    assert stored
    assert master not in stored
    assert again == master == decrypted
    reference = Reference.objects.select_related("subject__key").first()
    key = crypto.unwrap_key(again, bytes(reference.subject.key.wrapped), reference.subject_id)
    aad = crypto.reference_aad(str(reference.uid), reference.subject_id)
    assert len(crypto.open_sealed(key, bytes(reference.descriptor), aad)) == 1024
    assert len(cache.gallery_index()) == 5


def test_rotating_the_master_key_rewraps_every_subject_key(db, settings, monkeypatch):
    from django.core.management import CommandError, call_command

    old, new = os.urandom(32), os.urandom(32)
    settings.FACES_MASTER_KEY = base64.b64encode(old).decode()
    synthetic.synthetic_enroll(count=4, seed=6)
    before = {key.subject_id: bytes(key.wrapped) for key in SubjectKey.objects.all()}
    settings.FACES_MASTER_KEY = base64.b64encode(new).decode()
    keys.forget()

    with pytest.raises(CommandError):  # no previous key given
        call_command("faces_rotate_master_key")
    with pytest.raises(CommandError):  # a wrong previous key (stdin) changes nothing
        call_command(
            "faces_rotate_master_key",
            "--previous-master-key-stdin",
            stdin=StringIO(base64.b64encode(new).decode() + "\n"),
        )
    monkeypatch.setenv("FACES_PREVIOUS_MASTER_KEY", base64.b64encode(old).decode())
    out = StringIO()
    call_command("faces_rotate_master_key", stdout=out)

    assert "re-wrapped 4 subject key(s)" in out.getvalue()
    for key in SubjectKey.objects.all():
        data_key = crypto.unwrap_key(new, bytes(key.wrapped), key.subject_id)
        assert crypto.unwrap_key(old, before[key.subject_id], key.subject_id) == data_key
        with pytest.raises(crypto.Unreadable):  # the old master key no longer opens it
            crypto.unwrap_key(old, bytes(key.wrapped), key.subject_id)
    assert len(cache.gallery_index()) == 4


def test_moving_to_a_new_kms_key_rewraps_every_subject_key(db, settings, moto, monkeypatch):
    from django.core.management import call_command

    for name, value in {**CREDENTIALS, "AWS_ENDPOINT_URL": moto.url}.items():
        monkeypatch.setenv(name, value)
    kms = moto.client("kms")
    old_id = kms.create_key(Description="old")["KeyMetadata"]["KeyId"]
    new_id = kms.create_key(Description="new")["KeyMetadata"]["KeyId"]
    settings.FACES_KMS_KEY_ID = old_id
    synthetic.synthetic_enroll(count=3, seed=12)
    old_stored = bytes(GalleryState.objects.get(pk=1).master_key_wrapped)
    settings.FACES_KMS_KEY_ID = new_id
    keys.forget()

    call_command("faces_rotate_master_key", "--previous-kms-key-id", old_id, stdout=StringIO())

    new_stored = bytes(GalleryState.objects.get(pk=1).master_key_wrapped)
    assert new_stored != old_stored
    new_master = kms.decrypt(CiphertextBlob=new_stored, KeyId=new_id)["Plaintext"]
    old_master = kms.decrypt(CiphertextBlob=old_stored, KeyId=old_id)["Plaintext"]
    for key in SubjectKey.objects.all():
        crypto.unwrap_key(new_master, bytes(key.wrapped), key.subject_id)
        with pytest.raises(crypto.Unreadable):
            crypto.unwrap_key(old_master, bytes(key.wrapped), key.subject_id)
    cache.forget()
    assert len(cache.gallery_index()) == 3


def test_a_changed_master_key_is_a_clear_503_not_a_crash(db, settings, operator_api):
    settings.FACES_MASTER_KEY = base64.b64encode(os.urandom(32)).decode()
    synthetic.synthetic_enroll(count=2, seed=13)
    settings.FACES_MASTER_KEY = base64.b64encode(os.urandom(32)).decode()
    keys.forget()

    with pytest.raises(keys.GalleryKeyMismatch) as raised:
        cache.gallery_index()

    assert raised.value.status == 503
    assert raised.value.code == "gallery_key_mismatch"


def test_a_rotation_elsewhere_makes_this_process_drop_its_cached_master_key(
    db, settings, monkeypatch
):
    from django.core.management import call_command

    old, new = os.urandom(32), os.urandom(32)
    settings.FACES_MASTER_KEY = base64.b64encode(old).decode()
    synthetic.synthetic_enroll(count=2, seed=61)
    cache.state()  # this process has seen the key epoch before the rotation
    epoch_before = keys._epoch
    settings.FACES_MASTER_KEY = base64.b64encode(new).decode()
    monkeypatch.setenv("FACES_PREVIOUS_MASTER_KEY", base64.b64encode(old).decode())
    call_command("faces_rotate_master_key", stdout=StringIO())
    # As if the rotation had run in another process: this one still holds the old key.
    keys._cached[keys._source()] = old
    keys._epoch = epoch_before

    cache.state()  # its next search reads the new epoch with the version

    assert keys.master_key() == new
    synthetic.synthetic_enroll(count=1, seed=62)  # a new subject key, wrapped by the new key
    for key in SubjectKey.objects.all():
        crypto.unwrap_key(new, bytes(key.wrapped), key.subject_id)


def test_kms_unreachable_answers_503_gallery_key_unavailable(db, settings, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    settings.FACES_KMS_KEY_ID = "alias/portal-faces"

    with pytest.raises(keys.GalleryKeyUnavailable) as raised:
        keys.master_key()

    assert raised.value.code == "gallery_key_unavailable"
    assert raised.value.status == 503
