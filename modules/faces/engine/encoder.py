"""Landmarks, the aligned chip and the 128-d ResNet descriptor of each detected face."""

from __future__ import annotations

from typing import Any

from PIL import Image

from modules.faces.engine.detector import Detection
from modules.faces.engine.dlib_models import DlibModels
from modules.faces.engine.quality import assess
from modules.faces.engine.results import Box, Face

MODEL_NAME = "dlib_face_recognition_resnet_model_v1"
CHIP_SIZE = 150
CHIP_PADDING = 0.25


def encode_faces(
    models: DlibModels,
    image: Image.Image,
    detection: Detection,
    *,
    min_face_size: int,
    blur_threshold: float,
    np: Any,
    num_jitters: int = 0,
) -> list[Face]:
    """``num_jitters`` > 1: dlib averages the descriptors of that many randomly jittered copies
    of each chip (slower, a little more robust); 0 or 1: one pass over the chip."""
    dlib = models.dlib
    width, height = image.size
    chips: list[Any] = []
    parts: list[tuple[Box, bool, tuple[tuple[int, int], ...]]] = []
    for left, top, right, bottom in detection.boxes:
        # Landmarks and chip come from the original pixels around the face, so the
        # descriptor does not suffer from the downscaled detection.
        margin = max(right - left, bottom - top)
        crop_box = (
            max(0, int(left - margin)),
            max(0, int(top - margin)),
            min(width, int(right + margin) + 1),
            min(height, int(bottom + margin) + 1),
        )
        crop = np.asarray(image.crop(crop_box))
        rect = dlib.rectangle(
            round(left) - crop_box[0],
            round(top) - crop_box[1],
            round(right) - 1 - crop_box[0],
            round(bottom) - 1 - crop_box[1],
        )
        shape = models.shape_predictor(crop, rect)
        chips.append(dlib.get_face_chip(crop, shape, size=CHIP_SIZE, padding=CHIP_PADDING))
        landmarks = tuple(
            (shape.part(i).x + crop_box[0], shape.part(i).y + crop_box[1])
            for i in range(shape.num_parts)
        )
        box = Box(
            left=max(0, round(left)),
            top=max(0, round(top)),
            right=min(width, round(right)),
            bottom=min(height, round(bottom)),
        )
        outside = left < 0 or top < 0 or right > width or bottom > height
        parts.append((box, outside, landmarks))
    descriptors: list[Any] = []
    if chips:
        with models.recognizer_lock:
            descriptors = list(models.recognizer.compute_face_descriptor(chips, num_jitters))
    faces = []
    for index, ((box, outside, landmarks), chip, descriptor, score) in enumerate(
        zip(parts, chips, descriptors, detection.scores, strict=True)
    ):
        vector = np.array(descriptor, dtype=np.float64)
        vector.flags.writeable = False
        quality = assess(
            box,
            chip,
            landmarks=landmarks,
            partly_outside=outside,
            min_face_size=min_face_size,
            blur_threshold=blur_threshold,
            np=np,
        )
        faces.append(
            Face(
                index=index,
                box=box,
                score=score,
                landmarks=landmarks,
                quality=quality,
                descriptor=vector,
            )
        )
    return faces
