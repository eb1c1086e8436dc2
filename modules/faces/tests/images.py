"""Images the tests build themselves (the fixture photos are read from faces_dir)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

EXIF_ORIENTATION = 0x0112

# What to do to upright pixels so that a viewer applying the EXIF orientation shows them upright
# again (the inverse of what ImageOps.exif_transpose does for each tag value).
STORE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def encode_image(image: Image.Image, image_format: str = "JPEG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def with_orientation(upright: Image.Image, orientation: int, image_format: str = "JPEG") -> bytes:
    """Stored pixels rotated/flipped, and the EXIF tag that makes the upright view ``upright``."""
    stored = upright.transpose(STORE_FOR_ORIENTATION[orientation])
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    return encode_image(stored, image_format, exif=exif.tobytes(), quality=95)


def png_claiming_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height; its pixel data is junk, so decoding it
    would fail with a different error than the size check."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def quadrants(size: int = 64) -> Image.Image:
    """An RGB image whose four quadrants have distinct colours, to check orientation."""
    image = Image.new("RGB", (size, size))
    half = size // 2
    for box, color in (
        ((0, 0, half, half), (255, 0, 0)),
        ((half, 0, size, half), (0, 255, 0)),
        ((0, half, half, size), (0, 0, 255)),
        ((half, half, size, size), (255, 255, 0)),
    ):
        image.paste(color, box)
    return image
