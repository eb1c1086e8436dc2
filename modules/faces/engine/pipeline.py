"""The face engine: one image analysed, two compared.

Per image: intake (``imaging.load_image``) -> HOG detection on a copy downscaled to
``detect_max_side``, at higher resolution only when nothing is found (``detector``) -> boxes
mapped back to original pixels -> 5-point landmarks, the 150x150 aligned chip and the 128-d
ResNet descriptor (``encoder``). Two faces show the same person when the Euclidean distance
between their descriptors is at most the threshold.

dlib and numpy are imported on first use, never at import time, so the rest of the portal starts
fast; models load once per process (``dlib_models``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from typing import BinaryIO

from modules.faces.engine.detector import (
    DEFAULT_DETECT_MAX_SIDE,
    MIN_DETECT_MAX_SIDE,
    detect,
    detection_passes,
)
from modules.faces.engine.distance import DEFAULT_THRESHOLD, face_distance, similarity
from modules.faces.engine.dlib_models import DlibModels, find_models_dir, load_models
from modules.faces.engine.encoder import MODEL_NAME, encode_faces
from modules.faces.engine.errors import ImageError, ModelsNotFoundError, NoFaceError
from modules.faces.engine.imaging import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    LoadedImage,
    load_image,
)
from modules.faces.engine.options import CompareOptions, Pick
from modules.faces.engine.quality import (
    DEFAULT_BLUR_THRESHOLD,
    DEFAULT_MIN_FACE_SIZE,
    QualityFilter,
    comparison_warnings,
    filter_faces,
)
from modules.faces.engine.results import Comparison, Face, FaceAnalysis, Timings

logger = logging.getLogger(__name__)

ImageInput = bytes | bytearray | memoryview | BinaryIO | LoadedImage


class FaceEngine:
    """Detection, encoding and comparison settings over the process-wide loaded models.

    Cheap to build: make one per call from the current settings."""

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
        num_jitters: int = 0,
    ) -> None:
        """``upsample=None`` escalates as ``detection_passes`` says; an int forces one pass at
        ``detect_max_side`` with that upsampling. ``detector_threshold`` is dlib's
        adjust_threshold: lower finds more, less certain faces. ``num_jitters`` is dlib's: above
        1, each descriptor averages that many randomly jittered copies of the face, and the
        engine loads its own copy of the models (see ``_get_models``)."""
        if detect_max_side < MIN_DETECT_MAX_SIDE:
            raise ValueError(f"detect_max_side must be at least {MIN_DETECT_MAX_SIDE} pixels")
        if num_jitters < 0:
            raise ValueError("num_jitters must be 0 or more")
        self.models_dir = models_dir
        self.detect_max_side = detect_max_side
        self.min_face_size = min_face_size
        self.blur_threshold = blur_threshold
        self.detector_threshold = detector_threshold
        self.upsample = upsample
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.detector_pool_size = detector_pool_size or os.cpu_count() or 1
        self.num_jitters = num_jitters
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
            try:
                directory = find_models_dir(self.models_dir).resolve()
            except ModelsNotFoundError as exc:
                logger.error("Face models missing: %s", exc)
                raise
            if self.num_jitters > 1:
                # dlib draws the jitter from a random generator inside the loaded network: a
                # copy of the models for this engine alone makes the same calls give the same
                # descriptors, whatever the process computed before.
                self._models = DlibModels(directory, self.detector_pool_size)
            else:
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
        """Every face of one image with box, quality and descriptor (possibly none).

        ``source`` may be an image already read with ``read()``: its decoding time is still
        part of the timings."""
        models = self._get_models()  # the one-off model load is not part of the timings
        import numpy as np

        loaded = self.read(source, which=which)
        image = loaded.image
        started = time.perf_counter()
        detection = detect(
            models,
            image,
            self.detection_passes(image.width, image.height),
            threshold=self.detector_threshold,
            np=np,
        )
        detected = time.perf_counter()
        faces = encode_faces(
            models,
            image,
            detection,
            min_face_size=self.min_face_size,
            blur_threshold=self.blur_threshold,
            np=np,
            num_jitters=self.num_jitters,
        )
        encoded = time.perf_counter()
        return FaceAnalysis(
            which=which,
            width=image.width,
            height=image.height,
            format=loaded.format,
            orientation=loaded.orientation,
            detect_scale=detection.scale,
            upsample=detection.upsample,
            faces=tuple(faces),
            timings_ms=Timings(
                decode=loaded.decode_ms,
                detect=(detected - started) * 1000,
                encode=(encoded - detected) * 1000,
                total=loaded.decode_ms + (encoded - started) * 1000,
            ),
        )

    def encode(self, source: ImageInput) -> list[Face]:
        return list(self.analyze(source).faces)

    def detection_passes(self, width: int, height: int) -> list[tuple[float, int]]:
        return detection_passes(
            width, height, detect_max_side=self.detect_max_side, upsample=self.upsample
        )

    # -- two images ---------------------------------------------------------------------------

    def compare(
        self,
        image_a: ImageInput,
        image_b: ImageInput,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        pick: Pick = "largest",
        quality_filter: QualityFilter | str = QualityFilter.NONE,
    ) -> Comparison:
        """Same person or not. Raises ImageError subclasses tagged with which="a" or "b"."""
        options = CompareOptions(
            threshold=threshold,
            pick=pick,
            quality_filter=quality_filter,  # type: ignore[arg-type]
        )
        a = self.analyze(image_a, which="a")
        b = self.analyze(image_b, which="b")
        return compare_analyses(a, b, options)


def compare_analyses(a: FaceAnalysis, b: FaceAnalysis, options: CompareOptions) -> Comparison:
    """Compare two analysed images (each face already encoded), keeping only the faces that
    pass ``options.quality_filter``. Raises NoFaceError, LowQualityError."""
    for analysis, which in ((a, "a"), (b, "b")):
        if not analysis.faces:
            raise NoFaceError(analysis.which or which)
    a = filter_faces(a, options.quality_filter, which=a.which or "a")
    b = filter_faces(b, options.quality_filter, which=b.which or "b")
    import numpy as np

    if options.pick == "best":
        matrix_a = np.stack([face.descriptor for face in a.faces])
        matrix_b = np.stack([face.descriptor for face in b.faces])
        distances = np.linalg.norm(matrix_a[:, None, :] - matrix_b[None, :, :], axis=2)
        index_a, index_b = (int(i) for i in np.unravel_index(np.argmin(distances), distances.shape))
        distance = float(distances[index_a, index_b])
    else:
        index_a, index_b = _largest(a.faces), _largest(b.faces)
        distance = face_distance(a.faces[index_a].descriptor, b.faces[index_b].descriptor)
    return Comparison(
        match=distance <= options.threshold,
        distance=distance,
        similarity=similarity(distance, options.threshold),
        threshold=options.threshold,
        model=MODEL_NAME,
        pick=options.pick,
        pair=(a.faces[index_a].index, b.faces[index_b].index),
        image_a=a,
        image_b=b,
        warnings=(*comparison_warnings(a, "a", index_a), *comparison_warnings(b, "b", index_b)),
        quality_filter=options.quality_filter.value,
        timings_ms=Timings(
            decode=a.timings_ms.decode + b.timings_ms.decode,
            detect=a.timings_ms.detect + b.timings_ms.detect,
            encode=a.timings_ms.encode + b.timings_ms.encode,
            total=a.timings_ms.total + b.timings_ms.total,
        ),
    )


def _largest(faces: Sequence[Face]) -> int:
    return max(range(len(faces)), key=lambda i: (faces[i].box.area, faces[i].score))
