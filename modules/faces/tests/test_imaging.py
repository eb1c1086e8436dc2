from __future__ import annotations

import io
import time
from collections.abc import Callable

import pytest
from PIL import Image, ImageFile

from modules.faces.engine.imaging import (
    ImageTooLargeError,
    InvalidImageError,
    load_image,
)
from modules.faces.tests.images import encode_image, png_claiming_size, quadrants, with_orientation


def test_detects_the_type_from_the_content_not_the_name():
    upload = io.BytesIO(encode_image(quadrants(), "WEBP"))
    upload.name = "holiday.jpg"

    loaded = load_image(upload)

    assert loaded.format == "WEBP"
    assert loaded.image.mode == "RGB"


@pytest.mark.parametrize("orientation", range(2, 9))
def test_applies_the_exif_orientation(orientation: int):
    upright = quadrants(64).resize((64, 48), Image.Resampling.NEAREST)

    loaded = load_image(with_orientation(upright, orientation, "PNG"))

    assert loaded.orientation == orientation
    assert loaded.image.size == (64, 48)
    assert loaded.image.tobytes() == upright.tobytes()


def test_flattens_alpha_onto_white():
    image = Image.new("RGBA", (4, 2), (255, 0, 0, 255))
    image.paste((0, 0, 255, 0), (0, 0, 2, 2))  # left half fully transparent blue

    loaded = load_image(encode_image(image, "PNG"))

    assert loaded.source_mode == "RGBA"
    assert loaded.image.getpixel((0, 0)) == (255, 255, 255)
    assert loaded.image.getpixel((3, 1)) == (255, 0, 0)


def test_flattens_palette_transparency_and_gray_alpha_onto_white():
    palette = Image.new("P", (2, 1), 0)
    palette.putpalette([0, 0, 0, 200, 10, 10])
    palette.putpixel((1, 0), 1)
    gray_alpha = Image.new("LA", (2, 1), (30, 0))

    from_gif = load_image(encode_image(palette, "GIF", transparency=0))
    from_la = load_image(encode_image(gray_alpha, "PNG"))

    assert from_gif.image.getpixel((0, 0)) == (255, 255, 255)
    assert from_gif.image.getpixel((1, 0)) == (200, 10, 10)
    assert from_la.image.getpixel((0, 0)) == (255, 255, 255)


def test_converts_grayscale_cmyk_and_16_bit_images_to_rgb():
    gray = load_image(encode_image(Image.new("L", (8, 8), 128), "JPEG"))
    cmyk = load_image(encode_image(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG"))
    deep = Image.new("I;16", (2, 1), 0)
    deep.putpixel((1, 0), 65535)
    wide = load_image(encode_image(deep, "PNG"))

    assert gray.image.mode == cmyk.image.mode == wide.image.mode == "RGB"
    assert gray.source_mode == "L"
    assert abs(gray.image.getpixel((4, 4))[0] - 128) <= 2
    red, green, blue = cmyk.image.getpixel((4, 4))
    assert red > 200
    assert max(green, blue) < 60
    assert wide.image.getpixel((0, 0)) == (0, 0, 0)
    assert wide.image.getpixel((1, 0)) == (255, 255, 255)


def test_reads_the_first_frame_of_an_animated_gif():
    frames = [Image.new("RGB", (4, 4), color) for color in ((255, 0, 0), (0, 0, 255))]
    data = encode_image(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)

    loaded = load_image(data)

    assert loaded.format == "GIF"
    assert loaded.image.getpixel((1, 1)) == (255, 0, 0)


def test_accepts_bmp_and_rejects_tiff():
    assert load_image(encode_image(quadrants(), "BMP")).format == "BMP"

    with pytest.raises(InvalidImageError) as raised:
        load_image(encode_image(quadrants(), "TIFF"))

    assert raised.value.code == "invalid_image"
    assert "TIFF" not in raised.value.details["accepted"]


def test_rejects_a_truncated_jpeg(photo: Callable[[str], bytes]):
    data = photo("face_recognition/examples_obama.jpg")

    with pytest.raises(InvalidImageError, match="truncated"):
        load_image(data[: len(data) // 2])


def test_rejects_a_truncated_png():
    data = encode_image(Image.effect_noise((256, 256), 64).convert("RGB"), "PNG")

    with pytest.raises(InvalidImageError):
        load_image(data[: len(data) // 2])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"%PDF-1.7 not a picture",
        b"\x89PNG\r\n\x1a\n",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    ],
    ids=["empty", "pdf", "png-signature-only", "svg"],
)
def test_rejects_data_that_is_not_an_image(data: bytes):
    with pytest.raises(InvalidImageError) as raised:
        load_image(data)

    assert raised.value.as_dict()["code"] == "invalid_image"


def test_rejects_a_decompression_bomb_from_its_header_before_decoding():
    bomb = png_claiming_size(8000, 8000)  # 64 MP, under Pillow's own bomb limit
    pillow_limit = Image.MAX_IMAGE_PIXELS
    started = time.perf_counter()

    with pytest.raises(ImageTooLargeError) as raised:
        load_image(bomb)

    # Decoding the junk pixel data would have raised InvalidImageError instead.
    assert len(bomb) < 100
    assert time.perf_counter() - started < 0.5
    assert raised.value.code == "image_too_large"
    assert raised.value.details == {"width": 8000, "height": 8000, "max_pixels": 40_000_000}
    assert pillow_limit == Image.MAX_IMAGE_PIXELS


def test_reports_pillows_own_bomb_limit_as_too_large():
    with pytest.raises(ImageTooLargeError):
        load_image(png_claiming_size(30000, 30000))  # 900 MP: Pillow refuses in open()


def test_takes_its_pixel_limit_as_an_argument():
    data = encode_image(quadrants(100), "PNG")

    assert load_image(data, max_pixels=10_000).width == 100
    with pytest.raises(ImageTooLargeError):
        load_image(data, max_pixels=9_999)


def test_enforces_the_byte_limit_on_bytes_and_files():
    data = encode_image(quadrants(), "PNG")

    assert load_image(data, max_bytes=len(data)).format == "PNG"
    with pytest.raises(ImageTooLargeError):
        load_image(data, max_bytes=len(data) - 1)
    with pytest.raises(ImageTooLargeError):
        load_image(io.BytesIO(data), max_bytes=len(data) - 1)


def test_trusts_a_declared_upload_size_without_reading():
    class Upload(io.BytesIO):
        size = 11 * 1024 * 1024

    upload = Upload(b"never read")

    with pytest.raises(ImageTooLargeError):
        load_image(upload)

    assert upload.tell() == 0


def test_refuses_to_run_when_pillow_loads_truncated_images(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)

    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        load_image(encode_image(quadrants(), "PNG"))
