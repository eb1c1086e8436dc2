from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import pytest

# Imports of Django models stay inside fixtures: the engines' tests also run without Django.

ARTIFACTS = Path(__file__).resolve().parent / "var" / "test-artifacts"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """Make room for this run's SQLite test database; sweep away files of runs that died."""
    from django.conf import settings

    directory = getattr(settings, "SQLITE_TEST_DIR", None)
    if directory is None or settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        return
    directory.mkdir(parents=True, exist_ok=True)
    name = settings.DATABASES["default"]["TEST"]["NAME"]
    for leftover in (Path(name + suffix) for suffix in ("", "-wal", "-shm", "-journal")):
        leftover.unlink(missing_ok=True)  # a stale -wal beside a new file reads as corruption
    day_ago = time.time() - 86400
    for old in directory.iterdir():
        with contextlib.suppress(FileNotFoundError):
            if old.stat().st_mtime < day_ago:
                old.unlink()


@pytest.fixture
def operator(db):
    from portal.test import make_user

    return make_user("olivia", role="operator")


@pytest.fixture
def viewer(db):
    from portal.test import make_user

    return make_user("victor", role="viewer")


@pytest.fixture
def operator_api(operator):
    from portal.test import api_client

    return api_client(operator)


@pytest.fixture
def viewer_api(viewer):
    from portal.test import api_client

    return api_client(viewer)


@pytest.fixture
def anon_api():
    from portal.test import api_client

    return api_client()


@pytest.fixture
def artifacts_dir() -> Path:
    """Where tests leave screenshots for people to look at (var/ is not committed)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def chromium() -> str:
    from portal.test import chromium_path

    path = chromium_path()
    if not path:
        pytest.skip("headless Chromium is not installed (apt-get install chromium; make test does)")
    return path


@pytest.fixture(autouse=True)
def _isolate_cache(request):
    # Throttle and login-failure counters live in the cache: one test's must not leak into
    # the next.
    if "django_db_setup" in request.fixturenames or "settings" in request.fixturenames:
        from django.core.cache import cache

        cache.clear()
    yield
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
