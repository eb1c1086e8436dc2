"""Image intake: untrusted bytes in, an upright RGB Pillow image out.

The type comes from the content (never the file name), the byte and pixel limits are checked
before any pixel is decoded, EXIF orientation is applied, alpha is flattened onto white and
every other mode becomes RGB. Django-free.
"""

from __future__ import annotations

import io
import struct
import time
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from modules.faces.engine.errors import ImageTooLargeError, InvalidImageError

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000

# What browsers and phones send. TIFF is left out on purpose: browsers cannot preview it,
# and its many codecs widen the attack surface for no user need.
ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP")

_EXIF_ORIENTATION = 0x0112
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_WIDE_GRAY_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
# What Pillow raises on malformed data besides OSError; DecompressionBombError is handled first.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, TypeError)


@dataclass(frozen=True)
class LoadedImage:
    """An upright RGB image and what was learned while reading it."""

    image: Image.Image
    format: str  # detected from the content: JPEG, PNG, WEBP, GIF or BMP
    source_mode: str  # Pillow mode before conversion, e.g. "RGBA", "L", "P", "CMYK"
    orientation: int  # EXIF orientation that was applied (1 = none)
    byte_size: int
    decode_ms: float  # reading, limit checks and decoding

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height


def load_image(
    source: bytes | bytearray | memoryview | BinaryIO,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> LoadedImage:
    """Read an untrusted image (bytes or a binary file-like) into an upright RGB image.

    Raises ImageTooLargeError above ``max_bytes`` or ``max_pixels`` (checked from the header,
    before decoding), InvalidImageError for anything that is not a complete image of an
    accepted format.
    """
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Flipping this process-wide switch back would race with other threads; refusing is
        # the only way to keep truncated uploads from being silently padded with gray.
        raise RuntimeError(
            "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on; face image intake refuses to run with it"
        )
    started = time.perf_counter()
    data = _read_limited(source, max_bytes)
    if not data:
        raise InvalidImageError("The file is empty.")
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(str(exc), max_pixels=max_pixels) from None
    except UnidentifiedImageError:
        raise InvalidImageError(
            "Not an image, or not one of the accepted types.", accepted=list(ACCEPTED_FORMATS)
        ) from None
    except _DECODE_ERRORS as exc:
        raise InvalidImageError(f"Unreadable image header: {exc}") from None
    # No `with`: closing would invalidate the returned image when no conversion was needed,
    # and the source is an in-memory buffer, so nothing leaks.
    return _decode(image, byte_size=len(data), max_pixels=max_pixels, started=started)


def _read_limited(source: bytes | bytearray | memoryview | BinaryIO, max_bytes: int) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    else:
        declared = getattr(source, "size", None)  # Django's UploadedFile knows it already
        if isinstance(declared, int) and declared > max_bytes:
            raise ImageTooLargeError(
                f"The file is {declared} bytes; the limit is {max_bytes}.",
                max_bytes=max_bytes,
                size=declared,
            )
        data = source.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageTooLargeError(
            f"The file is larger than the limit of {max_bytes} bytes.", max_bytes=max_bytes
        )
    return data


def _decode(image: Image.Image, *, byte_size: int, max_pixels: int, started: float) -> LoadedImage:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise InvalidImageError("The image has no pixels.")
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"The image is {width}x{height} ({width * height} pixels); "
            f"the limit is {max_pixels} pixels.",
            width=width,
            height=height,
            max_pixels=max_pixels,
        )
    detected = "JPEG" if image.format == "MPO" else (image.format or "")
    source_mode = image.mode
    try:
        image.load()
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(str(exc), max_pixels=max_pixels) from None
    except _DECODE_ERRORS as exc:
        raise InvalidImageError(f"The image data is truncated or corrupt: {exc}") from None
    orientation = _orientation(image)
    try:
        upright = ImageOps.exif_transpose(image) if orientation != 1 else image
        rgb = _to_rgb(upright)
    except _DECODE_ERRORS as exc:
        raise InvalidImageError(f"The image cannot be converted to RGB: {exc}") from None
    return LoadedImage(
        image=rgb,
        format=detected,
        source_mode=source_mode,
        orientation=orientation,
        byte_size=byte_size,
        decode_ms=(time.perf_counter() - started) * 1000,
    )


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_EXIF_ORIENTATION, 1)
    except (*_DECODE_ERRORS, KeyError):
        # A broken EXIF block is common in edited photos; the pixels are still usable.
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode in _WIDE_GRAY_MODES:
        image = _wide_gray_to_l(image)
        mode = image.mode
    has_alpha = mode in _ALPHA_MODES or (
        mode in {"P", "L", "RGB", "1"} and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    if mode == "RGB":
        return image
    return image.convert("RGB")


def _wide_gray_to_l(image: Image.Image) -> Image.Image:
    """16/32-bit and float grayscale: scale into 8 bits instead of clipping at 255."""
    if image.mode == "F":
        low, high = image.getextrema()
    else:
        image = image.convert("I")
        low, high = image.getextrema()
    span = float(high) - float(low)
    if span <= 0:
        return Image.new("L", image.size, 0 if float(high) <= 0 else 255)
    scale = 255.0 / span
    offset = -float(low) * scale
    return image.point(lambda value: value * scale + offset).convert("L")
