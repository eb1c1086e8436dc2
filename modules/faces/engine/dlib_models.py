"""Where the dlib model files are, and the engine's one cache: the loaded dlib objects.

Model files come from the ``face_recognition_models`` package, located by path and never
imported (its ``__init__`` needs pkg_resources). Only the 5-point landmarks and the ResNet are
used; the 68-point model (100 MB) can stay out of deployment packages. Thread safety, measured
here: dlib releases the GIL while detecting, so threads really run detections at once.
- The HOG detector keeps per-call state inside the object: detections take an instance from a
  small pool (one per CPU at most) instead of sharing one.
- The shape predictor is documented by dlib as safe to share between threads.
- The ResNet keeps its activations inside the network object: one lock serializes it.
"""

from __future__ import annotations

import importlib.util
import os
import queue
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from modules.faces.engine.errors import ModelsNotFoundError

LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"
RECOGNITION_FILE = "dlib_face_recognition_resnet_model_v1.dat"
MODEL_FILES = (LANDMARKS_FILE, RECOGNITION_FILE)
MODELS_DIR_ENV = "FACES_MODELS_DIR"


def find_models_dir(models_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the two model files are: the argument, else $FACES_MODELS_DIR, else the
    ``face_recognition_models`` package found by path (its ``__init__`` needs pkg_resources,
    so it is never imported)."""
    explicit = models_dir or os.environ.get(MODELS_DIR_ENV)
    candidates = [Path(explicit)] if explicit else _package_model_dirs()
    for candidate in candidates:
        if all((candidate / name).is_file() for name in MODEL_FILES):
            return candidate
    searched = ", ".join(str(c) for c in candidates) or "(nothing: package not installed)"
    raise ModelsNotFoundError(
        f"dlib model files {', '.join(MODEL_FILES)} not found; searched {searched}. "
        f"Install face_recognition_models or set {MODELS_DIR_ENV}."
    )


def _package_model_dirs() -> list[Path]:
    roots: list[Path] = []
    try:
        spec = importlib.util.find_spec("face_recognition_models")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        roots.extend(Path(location) for location in spec.submodule_search_locations)
    roots.extend(Path(entry or ".") / "face_recognition_models" for entry in sys.path)
    unique = dict.fromkeys(root / "models" for root in roots)
    return [path for path in unique if path.is_dir()]


class DlibModels:
    """The loaded dlib objects of one model directory."""

    def __init__(self, directory: Path, detector_pool_size: int) -> None:
        import dlib

        self.dlib: Any = dlib
        self.directory = directory
        self.shape_predictor: Any = dlib.shape_predictor(str(directory / LANDMARKS_FILE))
        self.recognizer: Any = dlib.face_recognition_model_v1(str(directory / RECOGNITION_FILE))
        self.recognizer_lock = threading.Lock()
        self._pool_size = max(1, detector_pool_size)
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self._idle.put(dlib.get_frontal_face_detector())
        self._created = 1
        self._pool_lock = threading.Lock()

    @property
    def detectors_created(self) -> int:
        return self._created

    @contextmanager
    def detector(self) -> Iterator[Any]:
        try:
            detector = self._idle.get_nowait()
        except queue.Empty:
            with self._pool_lock:
                create = self._created < self._pool_size
                if create:
                    self._created += 1
            # Building a detector costs ~0.2 s, so the pool grows only under real concurrency.
            detector = self.dlib.get_frontal_face_detector() if create else self._idle.get()
        try:
            yield detector
        finally:
            self._idle.put(detector)


# The face engine's only cache: engines are cheap settings objects built per call, while the
# models are slow to load and large, so every engine reading the same directory shares them.
_MODELS: dict[Path, DlibModels] = {}
_MODELS_LOCK = threading.Lock()


def load_models(directory: Path, detector_pool_size: int) -> DlibModels:
    models = _MODELS.get(directory)
    if models is None:
        with _MODELS_LOCK:
            models = _MODELS.get(directory)
            if models is None:
                models = DlibModels(directory, detector_pool_size)
                _MODELS[directory] = models
    return models


def readiness() -> dict[str, str]:
    """/readyz's check for this module: the model files are where the engine looks.

    A path lookup only: imports neither dlib nor numpy.
    """
    try:
        directory = find_models_dir()
    except ModelsNotFoundError as exc:
        return {"models": f"missing: {exc}"}
    missing = [name for name in MODEL_FILES if not (directory / name).is_file()]
    return {"models": "ok" if not missing else "missing: " + ", ".join(missing)}
