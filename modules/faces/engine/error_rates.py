"""Error rates of a verification threshold, with the statistics an audit asks for.

Pure Python on scored pairs ``(distance, same_person, group)``: no dlib, no numpy. A pair
*matches* at threshold ``t`` when ``distance <= t``.

- FMR(t), the false-match rate: different-person pairs that match / different-person pairs.
- FNMR(t), the false-non-match rate: same-person pairs that do not match / same-person pairs.
- 95% confidence intervals are Wilson score intervals (``wilson_interval``): unlike the normal
  approximation they stay inside [0, 1] and are not empty when no error was seen.
- The rates are step functions of the threshold: they change only at observed distances, and
  are constant on ``[d_i, d_i+1)`` between two consecutive distinct distances.
- The equal-error rate (``equal_error_rate``): when some threshold range has FMR == FNMR
  exactly, the EER is that rate and its threshold the middle of the range. Otherwise both rates
  jump past each other at one distance ``d``: the EER is where the straight segment between the
  operating points just below ``d`` and at ``d`` crosses FMR == FNMR (linear interpolation on
  the DET/ROC plane, as the curves are drawn), and its threshold is ``d``.
- The threshold for a target FMR (``threshold_for_fmr``): the largest observed distance whose
  FMR is at most the target; every threshold up to the next different-person distance gives the
  same rates. It is *supported* only when the 95% Wilson upper bound of the FMR there is at most
  the target: with no false match that takes about 3.84/target different-person pairs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist
from typing import Any, NamedTuple

Z_95 = NormalDist().inv_cdf(0.975)  # 1.959963984540054
RATE_DIGITS = 6  # rates and interval bounds in JSON: fixed rounding keeps the output stable
THRESHOLD_DIGITS = 6


class ScoredPair(NamedTuple):
    distance: float
    same: bool
    group: str | None = None


def wilson_interval(errors: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of the proportion ``errors / trials`` (95% by default).

    center = (p + z²/2n) / (1 + z²/n), half width = z / (1 + z²/n) · √(p(1-p)/n + z²/4n²).
    """
    if trials <= 0:
        raise ValueError("trials must be positive")
    if not 0 <= errors <= trials:
        raise ValueError("errors must be between 0 and trials")
    p = errors / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    center = (p + z2 / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    # Exact ends where the formula only reaches them up to rounding.
    low = 0.0 if errors == 0 else max(0.0, center - half)
    high = 1.0 if errors == trials else min(1.0, center + half)
    return low, high


@dataclass(frozen=True)
class Rate:
    """``errors`` out of ``trials`` with its 95% Wilson interval (None without trials)."""

    errors: int
    trials: int

    @property
    def value(self) -> float | None:
        return self.errors / self.trials if self.trials else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.errors, self.trials) if self.trials else None

    def to_dict(self) -> dict[str, Any]:
        interval = self.interval
        return {
            "errors": self.errors,
            "trials": self.trials,
            "rate": rounded(self.value, RATE_DIGITS),
            "ci95": None if interval is None else [rounded(v, RATE_DIGITS) for v in interval],
        }


@dataclass(frozen=True)
class OperatingPoint:
    """The rates at one threshold."""

    threshold: float
    false_match: Rate
    false_non_match: Rate

    @property
    def pairs(self) -> int:
        return self.false_match.trials + self.false_non_match.trials

    @property
    def accuracy(self) -> float | None:
        wrong = self.false_match.errors + self.false_non_match.errors
        return (self.pairs - wrong) / self.pairs if self.pairs else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": rounded(self.threshold, THRESHOLD_DIGITS),
            "accuracy": rounded(self.accuracy, RATE_DIGITS),
            "false_match": self.false_match.to_dict(),
            "false_non_match": self.false_non_match.to_dict(),
        }


def rates_at(scored: Iterable[ScoredPair | tuple[Any, ...]], threshold: float) -> OperatingPoint:
    same = different = false_matches = false_non_matches = 0
    for distance, is_same, *_ in scored:
        if is_same:
            same += 1
            false_non_matches += distance > threshold
        else:
            different += 1
            false_matches += distance <= threshold
    return OperatingPoint(threshold, Rate(false_matches, different), Rate(false_non_matches, same))


class CurvePoint(NamedTuple):
    """FMR and FNMR at ``threshold`` (None: below every distance, nothing matches)."""

    threshold: float | None
    fmr: float
    fnmr: float


def curve(scored: Sequence[ScoredPair | tuple[Any, ...]]) -> list[CurvePoint]:
    """The operating points, from "nothing matches" (FMR 0, FNMR 1) to each distinct distance
    in increasing order. Empty unless there are pairs of both kinds. ROC: TPR = 1 - FNMR
    against FMR; DET: FNMR against FMR."""
    same_total = sum(1 for _, is_same, *_ in scored if is_same)
    different_total = len(scored) - same_total
    if not same_total or not different_total:
        return []
    ordered = sorted((pair[0], bool(pair[1])) for pair in scored)
    points = [CurvePoint(None, 0.0, 1.0)]
    same_matched = different_matched = 0
    index = 0
    while index < len(ordered):
        distance = ordered[index][0]
        while index < len(ordered) and ordered[index][0] == distance:
            if ordered[index][1]:
                same_matched += 1
            else:
                different_matched += 1
            index += 1
        points.append(
            CurvePoint(
                distance,
                different_matched / different_total,
                (same_total - same_matched) / same_total,
            )
        )
    return points


@dataclass(frozen=True)
class EqualError:
    """The equal-error rate and where it is (see the module docstring for the definition)."""

    rate: float
    threshold: float
    exact: bool  # True: FMR == FNMR on [low, high); False: interpolated across a jump at threshold
    low: float  # the range of thresholds it stands for (low == high when interpolated)
    high: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "rate": rounded(self.rate, RATE_DIGITS),
            "threshold": rounded(self.threshold, THRESHOLD_DIGITS),
            "interpolated": not self.exact,
            "threshold_range": [
                rounded(self.low, THRESHOLD_DIGITS),
                rounded(self.high, THRESHOLD_DIGITS),
            ],
        }


def equal_error_rate(scored: Sequence[ScoredPair | tuple[Any, ...]]) -> EqualError | None:
    points = curve(scored)
    if not points:
        return None
    # FNMR - FMR starts at 1 and falls with the threshold to -1 at the largest distance.
    for index, point in enumerate(points):
        gap = point.fnmr - point.fmr
        if gap == 0 and point.threshold is not None:
            end = index
            while end + 1 < len(points) and points[end + 1].fnmr == points[end + 1].fmr:
                end += 1
            # Equal on [threshold, next distance): the middle of that range.
            high = points[end + 1].threshold if end + 1 < len(points) else points[end].threshold
            assert high is not None
            return EqualError(point.fmr, (point.threshold + high) / 2, True, point.threshold, high)
        if gap < 0:
            before = points[index - 1]
            before_gap = before.fnmr - before.fmr
            share = before_gap / (before_gap - gap)
            rate = before.fmr + share * (point.fmr - before.fmr)
            assert point.threshold is not None
            return EqualError(rate, point.threshold, False, point.threshold, point.threshold)
    return None  # unreachable with pairs of both kinds: the last point has FNMR 0, FMR 1


@dataclass(frozen=True)
class TargetFmr:
    """The largest threshold whose false-match rate on the data is at most ``target``."""

    target: float
    threshold: float | None  # None: even the smallest distance is a false match too many
    limit: float | None  # the next different-person distance: thresholds below it act the same
    point: OperatingPoint | None
    different_pairs: int

    @property
    def needed_pairs(self) -> int:
        """Different-person pairs needed, with no false match among them, before the 95% upper
        bound of the FMR reaches the target: z²(1 - t)/t, about 3.84/t (the Wilson upper bound
        for 0 errors in n is z²/(n + z²))."""
        return pairs_to_bound_fmr(self.target)

    @property
    def upper_bound(self) -> float | None:
        """The 95% Wilson upper bound of the FMR at the chosen threshold."""
        interval = None if self.point is None else self.point.false_match.interval
        return None if interval is None else interval[1]

    @property
    def supported(self) -> bool:
        """The data shows, with 95% confidence, that the FMR at the threshold is ≤ target."""
        upper = self.upper_bound
        return upper is not None and upper <= self.target

    @property
    def note(self) -> str | None:
        if self.supported:
            return None
        if self.point is None:
            return "no threshold meets the target on this data"
        errors = self.point.false_match.errors
        seen = "no false match" if errors == 0 else f"{errors} false matches"
        return (
            f"{seen} among {self.different_pairs} different-person pairs: the 95% upper bound "
            f"of the FMR is {self.upper_bound:.2%}, above the target {self.target:g}; at least "
            f"{self.needed_pairs} different-person pairs with no false match are needed"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "threshold": rounded(self.threshold, THRESHOLD_DIGITS),
            "next_different_distance": rounded(self.limit, THRESHOLD_DIGITS),
            "at_threshold": None if self.point is None else self.point.to_dict(),
            "different_pairs": self.different_pairs,
            "different_pairs_needed": self.needed_pairs,
            "supported": self.supported,
            "note": self.note,
        }


def pairs_to_bound_fmr(target: float, z: float = Z_95) -> int:
    """The fewest different-person pairs whose 95% Wilson upper bound with no false match is at
    most ``target``."""
    needed = max(1, math.ceil(z * z * (1 - target) / target))
    while wilson_interval(0, needed, z)[1] > target:  # floating-point rounding at the edge
        needed += 1
    while needed > 1 and wilson_interval(0, needed - 1, z)[1] <= target:
        needed -= 1
    return needed


def threshold_for_fmr(
    scored: Sequence[ScoredPair | tuple[Any, ...]], target: float
) -> TargetFmr | None:
    if not 0 < target < 1:
        raise ValueError("target FMR must be between 0 and 1")
    points = [p for p in curve(scored) if p.threshold is not None]
    different = sum(1 for _, is_same, *_ in scored if not is_same)
    if not points:
        return None
    allowed = Fraction(str(target))  # decimal, so 0.001 x 1000 pairs allows exactly 1 match
    best: float | None = None
    limit: float | None = None
    for point in points:
        if Fraction(round(point.fmr * different), different) <= allowed:
            best = point.threshold
        else:
            limit = point.threshold
            break
    return TargetFmr(
        target,
        best,
        limit,
        None if best is None else rates_at(scored, best),
        different,
    )


def groups_of(scored: Iterable[ScoredPair | tuple[Any, ...]]) -> dict[str, list[ScoredPair]]:
    """Scored pairs by group, in sorted group order (pairs without a group are left out)."""
    grouped: dict[str, list[ScoredPair]] = {}
    for pair in scored:
        scored_pair = ScoredPair(*pair)
        if scored_pair.group is not None:
            grouped.setdefault(scored_pair.group, []).append(scored_pair)
    return dict(sorted(grouped.items()))


def rounded(value: float | None, digits: int) -> float | None:
    """``value`` rounded for JSON (None stays None, never -0.0)."""
    return None if value is None else round(value, digits) + 0.0
