"""Where the labelled face photos are: the one lookup every faces test and benchmark uses.

The photos are never copied into the repository: they are in $FACES_FIXTURES_DIR, else in
../shared/faces next to it. Without them the tests skip locally, naming the folder, and fail
under CI=true, where a skip would let a run pass that compared no face at all.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
FIXTURES_ENV = "FACES_FIXTURES_DIR"
MARKER = "pairs.tsv"


class FixturesMissing(Exception):
    pass


def on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def fixtures_dir() -> Path:
    path = Path(os.environ.get(FIXTURES_ENV) or REPO_ROOT.parent / "shared" / "faces")
    if not (path / MARKER).is_file():
        raise FixturesMissing(
            f"face fixtures not found at {path} (set {FIXTURES_ENV} to their folder)"
        )
    return path


def fixtures_dir_or_skip() -> Path:
    """For pytest fixtures: the folder, else a skip with the reason (a failure under CI=true)."""
    import pytest

    try:
        return fixtures_dir()
    except FixturesMissing as exc:
        if on_ci():
            pytest.fail(f"{exc}; CI=true requires them", pytrace=False)
        pytest.skip(str(exc))
