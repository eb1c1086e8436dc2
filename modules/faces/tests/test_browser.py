"""An operator compares two photos in a real headless Chromium and sees the boxes drawn."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from modules.faces.tests.uploads import BIDEN, OBAMA_AND_BIDEN
from portal.test import browser_login, browser_page, make_user

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MATCH_GREEN = (34, 197, 94)  # faces.css: the compared face's box when the verdict is a match


def green_pixels(png: bytes) -> int:
    data = Image.open(io.BytesIO(png)).convert("RGB").tobytes()
    return sum(
        1
        for i in range(0, len(data), 3)
        if all(abs(data[i + c] - MATCH_GREEN[c]) < 30 for c in range(3))
    )


def test_uploads_two_photos_and_shows_the_verdict_with_boxes(
    chromium, live_server, transactional_db, artifacts_dir: Path, faces_dir: Path
):
    make_user("olivia", role="operator")
    with browser_page(live_server.url) as page:
        browser_login(page, "olivia")
        page.goto("/faces/")
        page.set_input_files("#id_image_a", str(faces_dir / OBAMA_AND_BIDEN))
        page.set_input_files("#id_image_b", str(faces_dir / BIDEN))
        # faces.js previews the chosen files, once it has read their first bytes, before
        # anything is sent.
        page.wait_for_function("document.querySelectorAll('[data-dropzone].filled').length == 2")
        page.select_option("#id_pick", "best")
        page.click("[data-compare-button]")
        page.wait_for_selector("#compare-result", timeout=30_000)

        assert page.locator("#verdict").inner_text() == "Same person"
        boxes = page.locator(".face-box rect")
        assert boxes.count() >= 4  # three faces in the group photo, one in the portrait
        for index in range(boxes.count()):
            box = boxes.nth(index).bounding_box()
            assert box is not None
            assert box["width"] > 5
            assert box["height"] > 5
        assert page.locator(".face-box.compared").count() == 2
        figure = page.locator("[data-photo=a]")
        assert green_pixels(figure.screenshot()) > 100  # the compared box is drawn, in green
        assert page.locator("[data-warning=several_faces]").count() == 1
        page.locator("#compare-result").screenshot(path=str(artifacts_dir / "faces-compare.png"))
        page.screenshot(path=str(artifacts_dir / "faces-compare-page.png"), full_page=True)
        assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_shows_the_log_to_a_viewer_without_the_upload_form(
    chromium, live_server, transactional_db, artifacts_dir: Path
):
    make_user("victor", role="viewer")
    with browser_page(live_server.url) as page:
        browser_login(page, "victor")
        page.goto("/faces/")

        assert page.locator("#read-only-note").is_visible()
        assert page.locator("#id_image_a").count() == 0
        assert page.locator("text=No comparison yet.").count() == 1
        page.screenshot(path=str(artifacts_dir / "faces-viewer.png"), full_page=True)


def test_a_photo_dropped_on_a_zone_fills_its_file_input(
    chromium, live_server, transactional_db, small_photo
):
    make_user("olivia", role="operator")
    data = base64.b64encode(small_photo(BIDEN, 320)).decode()
    with browser_page(live_server.url) as page:
        browser_login(page, "olivia")
        page.goto("/faces/")
        page.evaluate(
            """data => {
                const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
                const transfer = new DataTransfer();
                transfer.items.add(new File([bytes], "biden.jpg", {type: "image/jpeg"}));
                const zone = document.querySelector("label[for=id_image_a]");
                zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true}));
            }""",
            data,
        )

        assert page.evaluate("document.querySelector('#id_image_a').files[0].name") == "biden.jpg"
        assert page.locator("label[for=id_image_a] .dz-preview").is_visible()
        assert "biden.jpg" in page.locator("label[for=id_image_a] .dz-hint").inner_text()
        assert page.evaluate("document.querySelector('#id_image_b').files.length") == 0
