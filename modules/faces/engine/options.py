"""How two photos are compared: the one place the threshold, pick and quality filter rules
are checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from modules.faces.engine.distance import DEFAULT_THRESHOLD
from modules.faces.engine.quality import QualityFilter

Pick = Literal["largest", "best"]
PICKS: tuple[str, ...] = ("largest", "best")
MAX_THRESHOLD = 2.0


@dataclass(frozen=True)
class CompareOptions:
    """``threshold``: same person at a distance at most this. ``pick``: which pair of faces is
    compared when a photo shows several (the largest of each, or the closest pair).
    ``quality_filter``: faces below this level are left out before picking (NONE keeps all,
    the default, as Rekognition's CompareFaces; a name in any case is accepted).

    Raises ValueError on a bad value; the message starts with the option's name."""

    threshold: float = DEFAULT_THRESHOLD
    pick: Pick = "largest"
    quality_filter: QualityFilter = QualityFilter.NONE

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= MAX_THRESHOLD:
            raise ValueError("threshold must be greater than 0 and at most 2")
        if self.pick not in PICKS:
            raise ValueError(f"pick must be one of {', '.join(PICKS)}")
        object.__setattr__(self, "quality_filter", QualityFilter.parse(self.quality_filter))
