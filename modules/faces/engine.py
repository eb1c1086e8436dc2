"""Face detection, encoding and comparison with dlib. Django-free.

Pipeline per image: intake (``imaging.load_image``) -> HOG detection on a copy downscaled to
``detect_max_side``, at higher resolution only when nothing is found (``detection_passes``) ->
boxes mapped back to original pixels -> 5-point landmarks and the 150x150 aligned chip cut from the
original-resolution pixels around each face -> 128-d ResNet descriptor. Two faces show the same
person when the Euclidean distance between their descriptors is at most the threshold (0.6).

dlib and numpy are imported on first use, never at import time, so the rest of the portal starts
fast; models load once per process (see ``dlib_models`` for how threads share them).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from PIL import Image

from modules.faces.distance import (
    DEFAULT_THRESHOLD,
    SearchHit,
    descriptor_from_bytes,
    descriptor_to_bytes,
    face_distance,
    search,
    similarity,
)
from modules.faces.dlib_models import (
    MODELS_DIR_ENV,
    DlibModels,
    ModelsNotFoundError,
    find_models_dir,
    load_models,
)
from modules.faces.imaging import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    ImageError,
    ImageTooLargeError,
    InvalidImageError,
    LoadedImage,
    load_image,
)
from modules.faces.results import (
    Box,
    Comparison,
    Face,
    FaceAnalysis,
    FaceQuality,
    FaceWarning,
    Timings,
)

if TYPE_CHECKING:
    import numpy as np

MODEL_NAME = "dlib_face_recognition_resnet_model_v1"
DETECTOR_NAME = "dlib_hog_frontal_face_detector"

DEFAULT_DETECT_MAX_SIDE = 1024
DEFAULT_MIN_FACE_SIZE = 50
DEFAULT_BLUR_THRESHOLD = 15.0
CHIP_SIZE = 150
CHIP_PADDING = 0.25

Pick = Literal["largest", "best"]
PICKS: tuple[str, ...] = ("largest", "best")
ImageInput = bytes | bytearray | memoryview | BinaryIO | LoadedImage


class NoFaceError(ImageError):
    code = "no_face"

    def __init__(self, which: str | None = None, message: str = "No face was found.") -> None:
        super().__init__(message, which=which)


class FaceEngine:
    """Detection, encoding and comparison settings over the process-wide loaded models."""

    def __init__(
        self,
        *,
        models_dir: str | os.PathLike[str] | None = None,
        detect_max_side: int = DEFAULT_DETECT_MAX_SIDE,
        min_face_size: int = DEFAULT_MIN_FACE_SIZE,
        blur_threshold: float = DEFAULT_BLUR_THRESHOLD,
        detector_threshold: float = 0.0,
        upsample: int | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        detector_pool_size: int | None = None,
    ) -> None:
        """``upsample=None`` escalates as ``detection_passes`` says; an int forces one pass at
        ``detect_max_side`` with that upsampling. ``detector_threshold`` is dlib's
        adjust_threshold: lower finds more, less certain faces."""
        if detect_max_side < 160:
            raise ValueError("detect_max_side must be at least 160 pixels")
        self.models_dir = models_dir
        self.detect_max_side = detect_max_side
        self.min_face_size = min_face_size
        self.blur_threshold = blur_threshold
        self.detector_threshold = detector_threshold
        self.upsample = upsample
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.detector_pool_size = detector_pool_size or os.cpu_count() or 1
        self._models: DlibModels | None = None

    # -- models -------------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._models is not None

    def load(self) -> float:
        """Load the models now (warm-up, readiness checks); returns seconds spent."""
        started = time.perf_counter()
        self._get_models()
        return time.perf_counter() - started

    def _get_models(self) -> DlibModels:
        if self._models is None:
            directory = find_models_dir(self.models_dir).resolve()
            self._models = load_models(directory, self.detector_pool_size)
        return self._models

    # -- one image ----------------------------------------------------------------------------

    def read(self, source: ImageInput, *, which: str | None = None) -> LoadedImage:
        if isinstance(source, LoadedImage):
            return source
        try:
            return load_image(source, max_bytes=self.max_bytes, max_pixels=self.max_pixels)
        except ImageError as exc:
            raise exc.for_image(which) if which else exc from None

    def analyze(self, source: ImageInput, *, which: str | None = None) -> FaceAnalysis:
        """Every face of one image with box, quality and descriptor (possibly none)."""
        models = self._get_models()  # the one-off model load is not part of the timings
        import numpy as np

        started = time.perf_counter()
        loaded = self.read(source, which=which)
        decoded = time.perf_counter()
        image = loaded.image
        raw_boxes, scores, upsample, scale = self._detect(models, image, np)
        detected = time.perf_counter()
        faces = self._encode_faces(models, image, raw_boxes, scores, np)
        encoded = time.perf_counter()
        return FaceAnalysis(
            which=which,
            width=image.width,
            height=image.height,
            format=loaded.format,
            orientation=loaded.orientation,
            detect_scale=scale,
            upsample=upsample,
            faces=tuple(faces),
            timings_ms=Timings(
                decode=(decoded - started) * 1000,
                detect=(detected - decoded) * 1000,
                encode=(encoded - detected) * 1000,
                total=(encoded - started) * 1000,
            ),
        )

    def encode(self, source: ImageInput) -> list[Face]:
        return list(self.analyze(source).faces)

    def detection_passes(self, width: int, height: int) -> list[tuple[float, int]]:
        """(scale of the copy, dlib upsampling) tried in order until a face is found.

        The first pass sees the photo at ``detect_max_side``; each next pass doubles the
        resolution: real pixels while the copy is smaller than the photo, then the photo
        upsampled once. The last pass is at most 2x the photo, 2x ``detect_max_side`` for
        small photos and 4x ``detect_max_side`` (4096 px) for big ones, so the worst case
        (no face in a big photo) stays far below full-resolution upsampled detection.
        """
        longest = max(width, height)
        first = min(longest, self.detect_max_side)
        if self.upsample is not None:
            return [(first / longest, self.upsample)]
        final = min(2 * longest, max(longest, 2 * self.detect_max_side), 4 * self.detect_max_side)
        passes: list[tuple[float, int]] = []
        side = first
        while True:
            side = min(side, final)
            if side <= longest:
                passes.append((side / longest, 0))
            else:
                passes.append((side / 2 / longest, 1))
            if side >= final:
                return passes
            side *= 2

    def _detect(
        self, models: DlibModels, image: Image.Image, np: Any
    ) -> tuple[list[tuple[float, float, float, float]], list[float], int, float]:
        width, height = image.size
        rects: Any = []
        scores: Any = []
        scale, upsample = 1.0, 0
        with models.detector() as detector:
            for scale, upsample in self.detection_passes(width, height):
                copy = image
                if scale < 1.0:
                    size = (max(1, round(width * scale)), max(1, round(height * scale)))
                    copy = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
                pixels = np.asarray(copy)
                rects, scores, _ = detector.run(pixels, upsample, self.detector_threshold)
                if len(rects):
                    break
        sx, sy = width / pixels.shape[1], height / pixels.shape[0]
        # dlib rectangles are inclusive; boxes here are [left, right) like Pillow's crop box.
        boxes = [
            (r.left() * sx, r.top() * sy, (r.right() + 1) * sx, (r.bottom() + 1) * sy)
            for r in rects
        ]
        return boxes, [float(s) for s in scores], upsample, scale

    def _encode_faces(
        self,
        models: DlibModels,
        image: Image.Image,
        raw_boxes: list[tuple[float, float, float, float]],
        scores: list[float],
        np: Any,
    ) -> list[Face]:
        dlib = models.dlib
        width, height = image.size
        chips: list[Any] = []
        parts: list[tuple[Box, bool, tuple[tuple[int, int], ...]]] = []
        for left, top, right, bottom in raw_boxes:
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
                descriptors = list(models.recognizer.compute_face_descriptor(chips))
        faces = []
        for index, ((box, outside, landmarks), chip, descriptor, score) in enumerate(
            zip(parts, chips, descriptors, scores, strict=True)
        ):
            blur = _laplacian_variance(chip, np)
            vector = np.array(descriptor, dtype=np.float64)
            vector.flags.writeable = False
            faces.append(
                Face(
                    index=index,
                    box=box,
                    score=score,
                    landmarks=landmarks,
                    quality=FaceQuality(
                        too_small=min(box.width, box.height) < self.min_face_size,
                        blur=blur,
                        blurry=blur < self.blur_threshold,
                        partly_outside=outside,
                    ),
                    descriptor=vector,
                )
            )
        return faces

    # -- two images ---------------------------------------------------------------------------

    def compare(
        self,
        image_a: ImageInput,
        image_b: ImageInput,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        pick: Pick = "largest",
    ) -> Comparison:
        """Same person or not. Raises ImageError subclasses tagged with which="a" or "b"."""
        _check_options(threshold, pick)
        self._get_models()
        started = time.perf_counter()
        a = self.analyze(image_a, which="a")
        b = self.analyze(image_b, which="b")
        return compare_analyses(
            a, b, threshold=threshold, pick=pick, started=started, finished=time.perf_counter()
        )


def compare_analyses(
    a: FaceAnalysis,
    b: FaceAnalysis,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    pick: Pick = "largest",
    started: float | None = None,
    finished: float | None = None,
) -> Comparison:
    """Compare two analysed images (each face already encoded). Raises NoFaceError."""
    _check_options(threshold, pick)
    for analysis, which in ((a, "a"), (b, "b")):
        if not analysis.faces:
            raise NoFaceError(analysis.which or which)
    import numpy as np

    matrix_a = np.stack([face.descriptor for face in a.faces])
    matrix_b = np.stack([face.descriptor for face in b.faces])
    if pick == "best":
        distances = np.linalg.norm(matrix_a[:, None, :] - matrix_b[None, :, :], axis=2)
        index_a, index_b = (int(i) for i in np.unravel_index(np.argmin(distances), distances.shape))
        distance = float(distances[index_a, index_b])
    else:
        index_a, index_b = _largest(a.faces), _largest(b.faces)
        distance = face_distance(a.faces[index_a].descriptor, b.faces[index_b].descriptor)
    total = a.timings_ms.total + b.timings_ms.total
    if started is not None and finished is not None:
        total = (finished - started) * 1000
    timings = Timings(
        decode=a.timings_ms.decode + b.timings_ms.decode,
        detect=a.timings_ms.detect + b.timings_ms.detect,
        encode=a.timings_ms.encode + b.timings_ms.encode,
        total=total,
    )
    return Comparison(
        match=distance <= threshold,
        distance=distance,
        similarity=similarity(distance, threshold),
        threshold=threshold,
        model=MODEL_NAME,
        pick=pick,
        pair=(index_a, index_b),
        image_a=a,
        image_b=b,
        warnings=(*_warnings(a, "a", index_a), *_warnings(b, "b", index_b)),
        timings_ms=timings,
    )


def _check_options(threshold: float, pick: str) -> None:
    if not 0.0 < threshold <= 2.0:
        raise ValueError("threshold must be in (0, 2]")
    if pick not in PICKS:
        raise ValueError(f"pick must be one of {', '.join(PICKS)}")


def _largest(faces: Sequence[Face]) -> int:
    return max(range(len(faces)), key=lambda i: (faces[i].box.area, faces[i].score))


def _warnings(analysis: FaceAnalysis, which: str, index: int) -> list[FaceWarning]:
    found: list[FaceWarning] = []
    label = f"image {which.upper()}"
    if len(analysis.faces) > 1:
        found.append(
            FaceWarning(
                "several_faces",
                which,
                f"{label} shows {len(analysis.faces)} faces; face {index} was compared.",
                index,
            )
        )
    quality = analysis.faces[index].quality
    if quality.too_small:
        found.append(FaceWarning("face_too_small", which, f"The face in {label} is small.", index))
    if quality.blurry:
        found.append(FaceWarning("face_blurry", which, f"The face in {label} is blurry.", index))
    if quality.partly_outside:
        found.append(
            FaceWarning(
                "face_partly_outside", which, f"The face in {label} is cut by the frame.", index
            )
        )
    return found


def _laplacian_variance(chip: np.ndarray, np: Any) -> float:
    """Sharpness of the aligned 150x150 chip, so the value does not depend on photo size."""
    gray = chip.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    laplacian = (
        gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:] - 4 * gray[1:-1, 1:-1]
    )
    return float(laplacian.var())


# -- process-wide default engine --------------------------------------------------------------

_DEFAULT: FaceEngine | None = None
_DEFAULT_LOCK = threading.Lock()


def get_engine() -> FaceEngine:
    """The process-wide engine with default settings (models from $FACES_MODELS_DIR or the
    face_recognition_models package)."""
    global _DEFAULT
    if _DEFAULT is None:
        with _DEFAULT_LOCK:
            if _DEFAULT is None:
                _DEFAULT = FaceEngine()
    return _DEFAULT


def compare(
    image_a: ImageInput,
    image_b: ImageInput,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    pick: Pick = "largest",
) -> Comparison:
    return get_engine().compare(image_a, image_b, threshold=threshold, pick=pick)


def encode(source: ImageInput) -> list[Face]:
    return get_engine().encode(source)


__all__ = [
    "DEFAULT_THRESHOLD",
    "MODELS_DIR_ENV",
    "MODEL_NAME",
    "Box",
    "Comparison",
    "Face",
    "FaceAnalysis",
    "FaceEngine",
    "FaceQuality",
    "FaceWarning",
    "ImageError",
    "ImageTooLargeError",
    "InvalidImageError",
    "ModelsNotFoundError",
    "NoFaceError",
    "SearchHit",
    "Timings",
    "compare",
    "compare_analyses",
    "descriptor_from_bytes",
    "descriptor_to_bytes",
    "encode",
    "face_distance",
    "find_models_dir",
    "get_engine",
    "search",
    "similarity",
]
