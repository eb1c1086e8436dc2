"""Helpers for the Django-side tests: uploads built in memory from the fixture photos."""

from __future__ import annotations

import io
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageOps

OBAMA = "face_recognition/examples_obama.jpg"
OBAMA_2 = "face_recognition/examples_obama2.jpg"
OBAMA_240P = "face_recognition/examples_obama-240p.jpg"
OBAMA_RGBA = "face_recognition/tests_test_images_32bit.png"
BIDEN = "face_recognition/examples_biden.jpg"
ROSE = "face_recognition/examples_knn_examples_train_rose_leslie_img1.jpg"
OBAMA_AND_BIDEN = "face_recognition/examples_knn_examples_test_obama_and_biden.jpg"
DOGS = "dlib_faces/dogs.jpg"


def shrink(data: bytes, side: int) -> bytes:
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def upload(
    data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg"
) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def files_under(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())
