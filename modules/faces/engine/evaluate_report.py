"""The text report of an evaluation: a few lines for a terminal, durations included."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.faces.engine.error_rates import Rate

if TYPE_CHECKING:
    from modules.faces.engine.evaluate import Evaluation


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _rate_text(rate: Rate) -> str:
    interval = rate.interval
    if interval is None:
        return "n/a (no pair)"
    return (
        f"{_pct(rate.value)} ({rate.errors}/{rate.trials}, "
        f"95% CI {_pct(interval[0])}-{_pct(interval[1])})"
    )


def format_report(evaluation: Evaluation, *, timings: bool = True) -> str:
    """A few lines for a terminal (with the durations unless ``timings`` is off)."""
    pct = _pct
    seconds = f", {evaluation.seconds:.1f} s" if timings else ""
    lines = [
        f"pairs: {len(evaluation.outcomes)} ({evaluation.same_pairs} same, "
        f"{evaluation.different_pairs} different, {evaluation.errors} not scored), "
        f"images encoded: {evaluation.images}{seconds}",
        f"threshold {evaluation.threshold}: accuracy {pct(evaluation.accuracy)}, "
        f"false matches {evaluation.false_matches} ({pct(evaluation.false_match_rate)}), "
        f"false non-matches {evaluation.false_non_matches} "
        f"({pct(evaluation.false_non_match_rate)})",
    ]
    point = evaluation.at_threshold()
    lines.append(f"  FMR  {_rate_text(point.false_match)}")
    lines.append(f"  FNMR {_rate_text(point.false_non_match)}")
    eer = evaluation.equal_error()
    if eer is not None:
        where = (
            f"FMR = FNMR for thresholds {eer.low:.4f} to {eer.high:.4f}"
            if eer.exact
            else "interpolated across the jump of both rates there"
        )
        lines.append(
            f"equal-error rate: {pct(eer.rate)} at threshold {eer.threshold:.4f} ({where})"
        )
    target = evaluation.target()
    if target is not None:
        if target.threshold is None or target.point is None:
            lines.append(
                f"target FMR {target.target:g}: no threshold meets it "
                "(the smallest distance is a different-person pair)"
            )
        else:
            lines.append(
                f"target FMR {target.target:g}: threshold {target.threshold:.4f}, "
                f"FMR {_rate_text(target.point.false_match)}, "
                f"FNMR {_rate_text(target.point.false_non_match)}"
            )
        if target.note:
            lines.append(f"  not supported by this data: {target.note}")
    if evaluation.best_threshold is not None:
        lines.append(
            f"best threshold on this data: {evaluation.best_threshold} "
            f"(accuracy {pct(evaluation.best_accuracy)})"
        )
    if evaluation.grouped:
        lines.append("per group:")
        for name, group in evaluation.groups().items():
            fm = Rate(group["false_match"]["errors"], group["false_match"]["trials"])
            fnm = Rate(group["false_non_match"]["errors"], group["false_non_match"]["trials"])
            lines.append(
                f"  {name}: {group['pairs']} pairs ({group['same_pairs']} same, "
                f"{group['different_pairs']} different, {group['errors']} not scored), "
                f"accuracy {pct(group['accuracy'])}, FMR {_rate_text(fm)}, "
                f"FNMR {_rate_text(fnm)}"
            )
    if timings:
        spent = evaluation.timings()
        lines.append(
            f"jitters {evaluation.jitters}: {spent['seconds']} s for {evaluation.images} images "
            f"({evaluation.faces} faces): {spent['ms_per_image']} ms per image, "
            f"{spent['ms_per_face']} ms per face, {spent['ms_per_pair']} ms per pair"
        )
    for outcome in evaluation.outcomes:
        if outcome.error:
            lines.append(f"  line {outcome.pair.line}: {outcome.error} in {outcome.error_image}")
        elif not outcome.correct:
            kind = "false match" if outcome.match else "false non-match"
            lines.append(
                f"  line {outcome.pair.line}: {kind} at distance {outcome.distance:.3f}: "
                f"{outcome.pair.a} vs {outcome.pair.b}"
            )
    return "\n".join(lines)
