"""Distances between face descriptors, the similarity score and the 1:N gallery search.

Django-free; numpy is imported on first use.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

DEFAULT_THRESHOLD = 0.6
DESCRIPTOR_SIZE = 128


def face_distance(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    import numpy as np

    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))


def similarity(distance: float, threshold: float = DEFAULT_THRESHOLD) -> float:
    """Similarity in percent: ``100 * (1 - distance / (2 * threshold))``, clamped to [0, 100].

    A straight line through 100 at distance 0, exactly 50 at the threshold (so "match" is
    always "similarity >= 50") and 0 at twice the threshold and beyond. With the default 0.6:
    distance 0.3 -> 75, 0.6 -> 50, 0.9 -> 25, 1.2 or more -> 0.
    """
    return max(0.0, min(100.0, 100.0 * (1.0 - distance / (2.0 * threshold))))


@dataclass(frozen=True)
class SearchHit:
    id: Any
    distance: float
    similarity: float
    match: bool


def search(
    query: Sequence[float] | np.ndarray,
    gallery: Iterable[tuple[Any, Sequence[float] | np.ndarray]],
    *,
    k: int = 5,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[SearchHit]:
    """The ``k`` gallery entries closest to ``query``, nearest first."""
    import numpy as np

    entries = list(gallery)
    if not entries or k <= 0:
        return []
    ids = [entry_id for entry_id, _ in entries]
    matrix = np.stack([np.asarray(vector, dtype=np.float64) for _, vector in entries])
    distances = np.linalg.norm(matrix - np.asarray(query, dtype=np.float64), axis=1)
    order = np.argsort(distances, kind="stable")[:k]
    return [
        SearchHit(
            id=ids[i],
            distance=float(distances[i]),
            similarity=similarity(float(distances[i]), threshold),
            match=bool(distances[i] <= threshold),
        )
        for i in order
    ]


def descriptor_to_bytes(descriptor: Sequence[float] | np.ndarray) -> bytes:
    """128 little-endian float64 values (1024 bytes), for a BinaryField."""
    import numpy as np

    return np.asarray(descriptor, dtype="<f8").tobytes()


def descriptor_from_bytes(data: bytes) -> np.ndarray:
    import numpy as np

    if len(data) != DESCRIPTOR_SIZE * 8:
        raise ValueError("a descriptor is 1024 bytes (128 float64)")
    return np.frombuffer(data, dtype="<f8").copy()
