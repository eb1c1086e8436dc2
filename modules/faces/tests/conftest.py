from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from modules.faces.engine import FaceEngine

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """The labelled face photos (never copied into the repository): $FACES_FIXTURES_DIR or
    ../shared/faces next to the repository."""
    path = Path(os.environ.get("FACES_FIXTURES_DIR") or REPO_ROOT.parent / "shared" / "faces")
    if not (path / "pairs.tsv").is_file():
        pytest.skip(f"face fixtures not found at {path} (set FACES_FIXTURES_DIR to their folder)")
    return path


@pytest.fixture(scope="session")
def photo(faces_dir: Path) -> Callable[[str], bytes]:
    """Bytes of a fixture photo by its path under faces_dir."""

    def read(name: str) -> bytes:
        return (faces_dir / name).read_bytes()

    return read


@pytest.fixture(scope="session")
def engine() -> FaceEngine:
    engine = FaceEngine()
    engine.load()
    return engine


@pytest.fixture(scope="session")
def small_photo(photo: Callable[[str], bytes]) -> Callable[..., bytes]:
    """A fixture photo shrunk in memory (JPEG, longest side ``side``): fast API tests."""
    from modules.faces.tests.uploads import shrink

    cache: dict[tuple[str, int], bytes] = {}

    def read(name: str, side: int = 480) -> bytes:
        if (name, side) not in cache:
            cache[name, side] = shrink(photo(name), side)
        return cache[name, side]

    return read


@pytest.fixture
def media_root(settings, tmp_path: Path) -> Path:
    """Stored files go to a fresh folder that the test can inspect."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root
