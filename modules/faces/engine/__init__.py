"""The face engine: are two photos the same person? Django-free, typed in and out.

One module per idea: ``imaging`` (untrusted bytes to an upright RGB image), ``detector`` (HOG
detection), ``encoder`` (landmarks and 128-d descriptors), ``quality`` (size, sharpness,
exposure and pose of each face, their warnings and the ``QualityFilter`` levels), ``pose``
(roll and yaw from the landmarks), ``distance`` (distance, similarity, 1:N search), ``options``
(the threshold, pick and quality filter rules), ``dlib_models`` (where the model files are and
the one cache of loaded models), ``pipeline`` (``FaceEngine``), ``evaluate`` (threshold
calibration).

Importing it imports neither dlib nor numpy: they load on the first analysis.
"""

from __future__ import annotations

from modules.faces.engine.distance import (
    DEFAULT_THRESHOLD,
    SearchHit,
    descriptor_from_bytes,
    descriptor_to_bytes,
    face_distance,
    search,
    similarity,
)
from modules.faces.engine.dlib_models import MODELS_DIR_ENV, find_models_dir
from modules.faces.engine.encoder import MODEL_NAME
from modules.faces.engine.errors import (
    ImageError,
    ImageTooLargeError,
    InvalidImageError,
    LowQualityError,
    ModelsNotFoundError,
    NoFaceError,
)
from modules.faces.engine.imaging import LoadedImage
from modules.faces.engine.options import MAX_THRESHOLD, PICKS, CompareOptions, Pick
from modules.faces.engine.pipeline import FaceEngine, ImageInput, compare_analyses
from modules.faces.engine.quality import (
    QUALITY_FILTERS,
    QualityFilter,
    filter_faces,
    quality_warnings,
    rejection_warnings,
)
from modules.faces.engine.results import (
    Box,
    Comparison,
    Face,
    FaceAnalysis,
    FaceQuality,
    FaceWarning,
    Rejection,
    Timings,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "MAX_THRESHOLD",
    "MODELS_DIR_ENV",
    "MODEL_NAME",
    "PICKS",
    "QUALITY_FILTERS",
    "Box",
    "CompareOptions",
    "Comparison",
    "Face",
    "FaceAnalysis",
    "FaceEngine",
    "FaceQuality",
    "FaceWarning",
    "ImageError",
    "ImageInput",
    "ImageTooLargeError",
    "InvalidImageError",
    "LoadedImage",
    "LowQualityError",
    "ModelsNotFoundError",
    "NoFaceError",
    "Pick",
    "QualityFilter",
    "Rejection",
    "SearchHit",
    "Timings",
    "compare_analyses",
    "descriptor_from_bytes",
    "descriptor_to_bytes",
    "face_distance",
    "filter_faces",
    "find_models_dir",
    "quality_warnings",
    "rejection_warnings",
    "search",
    "similarity",
]
