"""The compare page keeps what it was given: after an error both photos stay chosen, the failing
one is marked with what went wrong, a file that is not an image never leaves the browser.
Headless Chromium against the live server; the plain POST (no script) through the test client."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageFilter

from modules.faces.models import Comparison
from modules.faces.tests.fixtures import REPO_ROOT
from modules.faces.tests.images import encode_image
from modules.faces.tests.uploads import BIDEN, DOGS, OBAMA, OBAMA_2, upload
from portal.test import browser_login, browser_page, make_user

SCREENSHOTS = REPO_ROOT / "var" / "screenshots"


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def test_without_javascript_the_error_page_shows_the_failing_photo(client, operator, small_photo):
    client.force_login(operator)
    response = client.post(
        "/faces/compare/",
        {
            "image_a": upload(small_photo(OBAMA, 320), "a.jpg"),
            "image_b": upload(small_photo(DOGS, 320), "b.jpg"),
            "quality_filter": "high",
            "pick": "best",
        },
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert 'data-failed-which="b" data-failed-problem="No face found"' in html
    assert 'data-failed-photo="b"' in html
    assert '<span class="photo-overlay" data-overlay>No face found</span>' in html
    assert "data:image/jpeg;base64," in html
    # The options chosen are kept; the files cannot be (browsers do not refill file inputs).
    assert '<option value="HIGH" selected>' in html
    assert '<option value="best" selected>' in html


def test_the_result_draws_the_faces_the_filter_left_out(client, operator, small_photo):
    client.force_login(operator)
    face = Image.open(io.BytesIO(small_photo(OBAMA, 480)))
    both = Image.new("RGB", (2 * face.width, face.height))
    both.paste(face, (0, 0))
    both.paste(face.filter(ImageFilter.GaussianBlur(3)), (face.width, 0))
    response = client.post(
        "/faces/compare/",
        {
            "image_a": upload(small_photo(OBAMA_2, 480), "a.jpg"),
            "image_b": upload(encode_image(both, "JPEG", quality=90), "b.jpg"),
            "quality_filter": "MEDIUM",
        },
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('class="face-box compared"') == 2
    assert html.count('class="face-box rejected"') == 1
    assert 'data-warning="face_filtered"' in html
    assert "quality filter medium" in html


def jpeg(name: str, data: bytes) -> dict:
    return {"name": name, "mimeType": "image/jpeg", "buffer": data}


def chosen(page, which: str) -> list[str]:
    return page.evaluate(f"[...document.querySelector('#id_image_{which}').files].map(f => f.name)")


def choose(page, which: str, file: dict) -> None:
    page.set_input_files(f"#id_image_{which}", files=[file])
    page.wait_for_selector(f"label[for=id_image_{which}].filled")


@pytest.mark.browser
@pytest.mark.slow
def test_after_no_face_both_photos_stay_chosen_and_the_failing_one_says_why(
    chromium, live_server, transactional_db, small_photo, screenshots: Path
):
    make_user("olivia", role="operator")
    with browser_page(live_server.url) as page:
        browser_login(page, "olivia")
        page.goto("/faces/")
        choose(page, "a", jpeg("dogs.jpg", small_photo(DOGS, 480)))
        choose(page, "b", jpeg("obama.jpg", small_photo(OBAMA, 480)))
        page.click("[data-compare-button]")
        page.wait_for_selector("#compare-error", timeout=60_000)

        assert page.locator("#compare-error").get_attribute("data-error-code") == "no_face"
        assert chosen(page, "a") == ["dogs.jpg"]
        assert chosen(page, "b") == ["obama.jpg"]
        zone = page.locator("label[for=id_image_a]")
        assert "failed" in (zone.get_attribute("class") or "")
        assert zone.locator("[data-dz-overlay]").inner_text() == "No face found"
        assert zone.locator("[data-dz-overlay]").is_visible()
        assert page.locator("label[for=id_image_b] [data-dz-overlay]").is_hidden()
        assert page.locator("#failed-photo [data-overlay]").inner_text() == "No face found"
        assert page.locator("#failed-photo").get_attribute("data-failed-photo") == "a"
        page.screenshot(path=str(screenshots / "faces-compare-no-face.png"), full_page=True)

        # Only the failing photo is replaced; B is sent again as it was chosen.
        choose(page, "a", jpeg("obama2.jpg", small_photo(OBAMA_2, 480)))
        assert zone.locator("[data-dz-overlay]").is_hidden()
        page.click("[data-compare-button]")
        page.wait_for_selector("#compare-result", timeout=60_000)

        assert page.locator("#verdict").inner_text() == "Same person"
        assert page.locator("#compare-error").count() == 0
        assert chosen(page, "b") == ["obama.jpg"]
        verdicts = list(Comparison.objects.order_by("id").values_list("verdict", "error_code"))
        assert verdicts == [("error", "no_face"), ("match", "")]
        assert page.locator("[data-compare-recent] tbody tr").count() == 2
        page.screenshot(path=str(screenshots / "faces-compare-resubmitted.png"), full_page=True)
        assert not [e for e in page.console_errors if "Content Security Policy" in e]


@pytest.mark.browser
@pytest.mark.slow
def test_a_blurry_face_is_shown_with_too_blurry_under_the_quality_filter(
    chromium, live_server, transactional_db, faces_dir: Path, small_photo, screenshots: Path
):
    make_user("olivia", role="operator")
    sharp = Image.open(io.BytesIO(small_photo(BIDEN, 480)))
    blurred = encode_image(sharp.filter(ImageFilter.GaussianBlur(3)), "JPEG", quality=90)
    with browser_page(live_server.url) as page:
        browser_login(page, "olivia")
        page.goto("/faces/")
        choose(page, "a", jpeg("biden.jpg", small_photo(BIDEN, 480)))
        choose(page, "b", jpeg("biden-blurred.jpg", blurred))
        page.select_option("#id_quality_filter", "LOW")
        page.click("[data-compare-button]")
        page.wait_for_selector("#compare-error", timeout=60_000)

        assert page.locator("#compare-error").get_attribute("data-error-code") == "low_quality"
        assert page.locator("label[for=id_image_b] [data-dz-overlay]").inner_text() == "Too blurry"
        assert page.locator("#failed-photo .face-box.rejected").count() == 1
        assert chosen(page, "a") == ["biden.jpg"]
        assert chosen(page, "b") == ["biden-blurred.jpg"]
        assert page.locator("#id_quality_filter").input_value() == "LOW"
        assert Comparison.objects.get().quality_filter == "LOW"
        page.locator("#failed-photo").screenshot(path=str(screenshots / "faces-too-blurry.png"))


@pytest.mark.browser
@pytest.mark.slow
def test_a_file_that_is_not_an_image_is_refused_before_upload(
    chromium, live_server, transactional_db, small_photo
):
    make_user("olivia", role="operator")
    with browser_page(live_server.url) as page:
        browser_login(page, "olivia")
        page.goto("/faces/")
        choose(page, "b", jpeg("obama.jpg", small_photo(OBAMA, 320)))
        # Named and typed as a photo: only its first bytes tell it is not one.
        page.set_input_files(
            "#id_image_a",
            files=[
                {"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"%PDF-1.7 not a photo"}
            ],
        )
        message = page.locator("label[for=id_image_a] [data-dz-error]")
        message.wait_for(state="visible")

        assert message.inner_text() == (
            "\u201cnotes.jpg\u201d is not a photo: choose a JPEG, PNG, WEBP, GIF or BMP image."
        )
        assert chosen(page, "a") == []
        assert chosen(page, "b") == ["obama.jpg"]
        posts: list[str] = []
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        page.evaluate(
            """() => { window.refused = new Promise(done => document.querySelector('#id_image_a')
                .addEventListener('invalid', () => done(true), { once: true })); }"""
        )
        page.click("[data-compare-button]")  # the browser's own check: A is required
        # "invalid" fires when the browser blocks the submission, before any submit event.
        assert page.evaluate("() => window.refused") is True
        assert posts == []
        assert Comparison.objects.count() == 0
        assert page.locator("#compare-error").count() == 0

        choose(page, "a", jpeg("obama-again.jpg", small_photo(OBAMA, 320)))
        assert message.is_hidden()


@pytest.mark.browser
@pytest.mark.slow
def test_two_quick_submits_send_one_comparison(
    chromium, live_server, transactional_db, small_photo
):
    make_user("olivia", role="operator")
    with browser_page(live_server.url) as page:
        browser_login(page, "olivia")
        page.goto("/faces/")
        choose(page, "a", jpeg("obama.jpg", small_photo(OBAMA, 320)))
        choose(page, "b", jpeg("obama2.jpg", small_photo(OBAMA_2, 320)))
        posts: list[str] = []
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        # Both in one task: the second comes while the first is still checking its files.
        page.evaluate(
            "() => { const form = document.querySelector('[data-compare-form]');"
            " form.requestSubmit(); form.requestSubmit(); }"
        )
        page.wait_for_selector("#compare-result", timeout=60_000)
        page.wait_for_load_state("networkidle")

        assert len(posts) == 1
        assert Comparison.objects.count() == 1
