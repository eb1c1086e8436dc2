"""The operator UI: compare with boxes drawn, the log, the dashboard card."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from modules.faces.gallery.synthetic import synthetic_enroll
from modules.faces.models import Comparison
from modules.faces.tests.fixtures import REPO_ROOT
from modules.faces.tests.uploads import BIDEN, DOGS, OBAMA, OBAMA_2, OBAMA_AND_BIDEN, upload


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


def post_compare(client, a: bytes, b: bytes, **fields):
    return client.post("/faces/compare/", {"image_a": upload(a), "image_b": upload(b), **fields})


def test_operators_get_the_upload_form(operator_client):
    html = operator_client.get("/faces/").content.decode()

    assert 'enctype="multipart/form-data"' in html
    assert 'type="file" name="image_a"' in html
    assert 'type="file" name="image_b"' in html
    assert "/static/js/faces.js" in html


def test_shows_the_verdict_with_boxes_drawn_over_both_photos(operator_client, small_photo):
    response = post_compare(operator_client, small_photo(OBAMA_AND_BIDEN, 900), small_photo(BIDEN))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Same person" in html
    assert 'class="panel result verdict-match"' in html
    previews = re.findall(r'<image href="data:image/jpeg;base64,', html)
    assert len(previews) == 2
    boxes = re.findall(r'<g class="face-box( compared)?" data-face="\d+">\s*<rect x="\d+"', html)
    assert len(boxes) >= 3
    assert [b for b in boxes if b] == [" compared", " compared"]
    assert "several_faces" in html
    assert re.search(r'<circle class="distance-mark" cx="[\d.]+"', html)
    # The CSP (style-src 'self') refuses inline style attributes: the page must not need any.
    assert " style=" not in html
    assert Comparison.objects.get().source == "web"


def test_explains_which_photo_failed(operator_client, small_photo):
    response = post_compare(operator_client, small_photo(OBAMA), small_photo(DOGS))

    html = response.content.decode()
    assert response.status_code == 422
    assert 'data-error-code="no_face"' in html
    assert "Photo B:" in html
    assert 'type="file" name="image_a"' in html  # the form is there to try again


def test_reports_missing_fields_on_the_form(operator_client, small_photo):
    response = operator_client.post("/faces/compare/", {"image_a": upload(small_photo(OBAMA))})

    assert response.status_code == 400
    assert "image_b" in response.content.decode()
    assert not Comparison.objects.exists()


def test_viewers_see_the_log_but_not_the_form(viewer_client, operator_api, small_photo):
    operator_api.post(
        "/api/faces/compare/",
        {"image_a": upload(small_photo(OBAMA)), "image_b": upload(small_photo(OBAMA_2))},
        format="multipart",
    )

    html = viewer_client.get("/faces/").content.decode()
    log = viewer_client.get("/faces/log/?verdict=match").content.decode()
    denied = post_compare(viewer_client, small_photo(OBAMA), small_photo(OBAMA_2))

    assert 'name="image_a"' not in html
    assert 'id="read-only-note"' in html
    assert 'data-verdict="match"' in html
    assert "olivia" in log
    assert denied.status_code == 403
    assert Comparison.objects.count() == 1


# The gallery pages: test_gallery_views.py.


def test_the_dashboard_card_counts_todays_comparisons(operator_client, small_photo):
    post_compare(operator_client, small_photo(OBAMA), small_photo(OBAMA_2))
    post_compare(operator_client, small_photo(OBAMA), small_photo(BIDEN))
    post_compare(operator_client, small_photo(OBAMA), small_photo(DOGS))
    synthetic_enroll(count=1)

    html = operator_client.get("/dashboard/cards/faces/").content.decode()

    assert 'class="card status-ok"' in html
    stats = dict(re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", html))
    assert stats == {"Compared today": "3", "Matches today": "1", "Gallery": "1"}
    assert html.count('<li><span class="badge') == 3
    assert "no_face in B" in html


def test_the_portal_starts_and_answers_health_checks_without_dlib_or_numpy():
    code = (
        "import os, sys\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'tests.settings'\n"
        "import django\n"
        "django.setup()\n"
        "from django.test import Client\n"
        "import modules.faces.admin, modules.faces.api, modules.faces.views\n"
        "client = Client()\n"
        "assert client.get('/healthz').status_code == 200\n"
        "assert client.get('/api/faces/').status_code == 401\n"
        "print(sorted(m for m in ('dlib', 'numpy') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
