"""Photos are not stored unless FACES_STORE_IMAGES is on; then through the storage API, pruned
after FACES_RETENTION_DAYS."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.utils import timezone

from modules.faces.models import Comparison
from modules.faces.tests.uploads import OBAMA, OBAMA_2, files_under, upload

COMPARE = "/api/faces/compare/"


def compare(client, a: bytes, b: bytes):
    data = {"image_a": upload(a, "alice.jpg"), "image_b": upload(b, "bob.jpg")}
    return client.post(COMPARE, data, format="multipart")


def test_stores_no_photo_by_default(operator_api, small_photo, media_root, settings, tmp_path):
    # Django would spool an upload this size to a temporary file in a folder that does not
    # exist: the comparison works only because the photos stay in memory.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1_000
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "no-such-folder")
    photo_a, photo_b = small_photo(OBAMA), small_photo(OBAMA_2)

    response = compare(operator_api, photo_a, photo_b)

    assert response.status_code == 200, response.content
    assert files_under(media_root) == []
    log = Comparison.objects.get()
    assert not log.image_a
    assert not log.image_b
    row = json.dumps(list(Comparison.objects.values()), default=str)
    assert len(row) < 2_000  # metadata only
    assert "alice" not in row
    assert "bob" not in row
    assert operator_api.get(f"/api/faces/comparisons/{log.pk}/photos/a/").status_code == 404


def test_stores_the_photos_through_the_storage_api_when_asked(
    operator_api, small_photo, media_root, settings
):
    settings.FACES_STORE_IMAGES = True
    photo_a, photo_b = small_photo(OBAMA), small_photo(OBAMA_2)

    body = compare(operator_api, photo_a, photo_b).json()

    log = Comparison.objects.get(pk=body["id"])
    stored = files_under(media_root)
    assert len(stored) == 2
    assert {path.read_bytes() for path in stored} == {photo_a, photo_b}
    assert all(path.suffix == ".jpg" and "alice" not in path.name for path in stored)
    assert log.image_a.name.startswith("faces/comparisons/")
    assert log.image_a.read() == photo_a
    served = operator_api.get(f"/api/faces/comparisons/{log.pk}/photos/b/")
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == photo_b
    assert served["Cache-Control"] == "private, no-store"


def test_viewers_cannot_download_stored_photos(
    operator_api, viewer_api, small_photo, media_root, settings
):
    settings.FACES_STORE_IMAGES = True
    body = compare(operator_api, small_photo(OBAMA), small_photo(OBAMA_2)).json()

    response = viewer_api.get(f"/api/faces/comparisons/{body['id']}/photos/a/")

    assert response.status_code == 403


def test_prunes_stored_photos_after_the_retention_period(
    operator_api, small_photo, media_root, settings
):
    settings.FACES_STORE_IMAGES = True
    settings.FACES_RETENTION_DAYS = 7
    old = Comparison.objects.get(
        pk=compare(operator_api, small_photo(OBAMA), small_photo(OBAMA_2)).json()["id"]
    )
    recent = Comparison.objects.get(
        pk=compare(operator_api, small_photo(OBAMA_2), small_photo(OBAMA)).json()["id"]
    )
    Comparison.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=8))
    out = StringIO()

    call_command("faces_prune", "--dry-run", stdout=out)
    assert "would delete 2 photo(s) of 1 comparison(s)" in out.getvalue()
    assert len(files_under(media_root)) == 4
    call_command("faces_prune", stdout=out)

    old.refresh_from_db()
    recent.refresh_from_db()
    assert not old.image_a
    assert not old.image_b
    assert old.verdict == "match"  # the metadata stays
    assert recent.image_a
    assert recent.image_b
    assert sorted(files_under(media_root)) == sorted(
        media_root / name for name in (recent.image_a.name, recent.image_b.name)
    )


def test_deleting_a_log_entry_deletes_its_photos(
    operator_api, small_photo, media_root, settings, django_capture_on_commit_callbacks
):
    settings.FACES_STORE_IMAGES = True
    compare(operator_api, small_photo(OBAMA), small_photo(OBAMA_2))

    with django_capture_on_commit_callbacks(execute=True):
        Comparison.objects.all().delete()

    assert files_under(media_root) == []
