from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from modules.faces.engine import FaceEngine
from modules.faces.tests.fixtures import fixtures_dir_or_skip


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """The labelled face photos (see modules.faces.tests.fixtures)."""
    return fixtures_dir_or_skip()


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


@pytest.fixture(autouse=True)
def fresh_gallery_process():
    """Each test starts as a new process: no matrix, no master key cached by an earlier test
    (whose database rolled back to a state the cache could mistake for its own)."""
    from modules.faces.gallery import cache, keys

    cache.forget()
    keys.forget()
    yield
    cache.forget()
    keys.forget()
