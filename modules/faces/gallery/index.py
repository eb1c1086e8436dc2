"""The gallery searched in memory: exact k-nearest references over a float32 matrix.

The scan is one matrix-vector product (``|x|^2 - 2 x.q`` orders the rows as the distance
does); float32 rounding could swap two nearly equal distances, so every row within a
proven error bound of the k-th is re-measured exactly (``face_distance``, float64) and the
answer is sorted by (distance, id): the same ids in the same order as a brute-force scan.
Django-free; numpy is imported on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modules.faces.engine.distance import DESCRIPTOR_SIZE, face_distance, similarity

# float32 dot products of 128 terms err by at most ~128 * 2**-24 of |x||q| (any summation
# order); ten times that covers both sides of the comparison with room to spare.
_RELATIVE_ERROR = 1e-4


@dataclass(frozen=True)
class IndexHit:
    id: int
    distance: float
    similarity: float
    match: bool


class GalleryIndex:
    """Immutable: ``extended()`` returns a new index, so a search never sees a half-built one."""

    def __init__(self, ids: Any, matrix: Any, expires: Any, exact: Any = None) -> None:
        import numpy as np

        self.ids = np.asarray(ids, dtype=np.int64)
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32).reshape(-1, DESCRIPTOR_SIZE)
        self.expires = np.asarray(expires, dtype=np.float64)  # epoch seconds
        self.sq_norms = np.einsum("ij,ij->i", self.matrix, self.matrix)
        self.max_sq_norm = float(self.sq_norms.max()) if len(self.ids) else 0.0
        # Descriptors that float32 does not hold exactly keep a float64 copy for the re-check
        # (dlib's are float32 values, so normally none).
        self.exact = exact
        self.next_expiry = float(self.expires.min()) if len(self.ids) else float("inf")

    @classmethod
    def build(cls, rows: list[tuple[int, Any, float]]) -> GalleryIndex:
        """``rows``: (id, float64 descriptor, expires epoch seconds)."""
        import numpy as np

        ids = [row[0] for row in rows]
        matrix64 = (
            np.stack([np.asarray(row[1], dtype=np.float64) for row in rows])
            if rows
            else np.empty((0, DESCRIPTOR_SIZE))
        )
        exact = None
        if not np.array_equal(matrix64.astype(np.float32).astype(np.float64), matrix64):
            exact = matrix64
        return cls(ids, matrix64, [row[2] for row in rows], exact)

    def extended(self, rows: list[tuple[int, Any, float]]) -> GalleryIndex:
        import numpy as np

        if not rows:
            return self
        more = GalleryIndex.build(rows)
        exact = None
        if self.exact is not None or more.exact is not None:
            exact = np.concatenate([self._exact_all(), more._exact_all()])
        return GalleryIndex(
            np.concatenate([self.ids, more.ids]),
            np.concatenate([self.matrix, more.matrix]),
            np.concatenate([self.expires, more.expires]),
            exact,
        )

    def without(self, ids: Any) -> GalleryIndex:
        """This index less the rows whose id is in ``ids``: no decryption."""
        return self.keeping(~_np().isin(self.ids, _np().asarray(ids, dtype=_np().int64)))

    def only(self, live_ids: Any) -> GalleryIndex:
        """This index less the rows whose id is not in ``live_ids``: no decryption."""
        return self.keeping(_np().isin(self.ids, _np().asarray(live_ids, dtype=_np().int64)))

    def keeping(self, mask: Any) -> GalleryIndex:
        if bool(mask.all()):
            return self
        exact = self.exact[mask] if self.exact is not None else None
        return GalleryIndex(self.ids[mask], self.matrix[mask], self.expires[mask], exact)

    def __len__(self) -> int:
        return len(self.ids)

    def _exact_all(self) -> Any:
        return self.exact if self.exact is not None else self.matrix.astype("float64")

    def _row(self, i: int) -> Any:
        return self.exact[i] if self.exact is not None else self.matrix[i].astype("float64")

    def search(self, query: Any, *, k: int, threshold: float, now: float) -> list[IndexHit]:
        """The k references nearest ``query`` that have not expired at ``now``, nearest first."""
        import numpy as np

        n = len(self.ids)
        if n == 0 or k <= 0:
            return []
        q64 = np.asarray(query, dtype=np.float64)
        # In place on one float32 array: no float64 or second n-sized temporary per search.
        scores = self.matrix @ np.ascontiguousarray(q64, dtype=np.float32)
        scores *= -2.0
        scores += self.sq_norms
        live = n
        if now >= self.next_expiry:  # a reference expired since the build: never return it
            expired = self.expires <= now
            scores[expired] = np.inf
            live = n - int(np.count_nonzero(expired))
        k = min(k, live)
        if k == 0:
            return []
        kth = float(np.partition(scores, k - 1)[k - 1] if k < n else scores.max())
        tolerance = _RELATIVE_ERROR * (self.max_sq_norm + float(q64 @ q64) + 1e-6)
        candidates = np.flatnonzero(scores <= kth + tolerance)
        measured = sorted(
            (face_distance(self._row(i), q64), int(self.ids[i])) for i in candidates.tolist()
        )[:k]
        return [
            IndexHit(
                id=ref_id,
                distance=distance,
                similarity=similarity(distance, threshold),
                match=distance <= threshold,
            )
            for distance, ref_id in measured
        ]


def _np() -> Any:
    import numpy as np

    return np


def empty_index() -> GalleryIndex:
    return GalleryIndex([], _np().empty((0, DESCRIPTOR_SIZE)), [])
