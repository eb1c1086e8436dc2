"""Test settings: the real settings module, read with a test environment."""

from __future__ import annotations

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("EGRESS_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("LOG_FORMAT", "text")
os.environ.setdefault("LOG_LEVEL", "warning")
# Tests drive the SOS dispatcher themselves; the ones that need the wake-up thread turn it on.
os.environ.setdefault("SOS_WAKE", "none")
# Traffic counting stays off (an exit-time flush must not write into the dev database); the
# FinOps tests turn it on.
os.environ.setdefault("FINOPS_TRAFFIC", "0")
# A developer's `.env` (written by `make run`) must not change what the tests see; monitors run
# when a test runs them (the scheduler's own tests start real servers with it on).
os.environ.setdefault("DOTENV", "0")
os.environ.setdefault("NETPROBE_SCHEDULER", "off")
# The gallery's master key: fixed, so no test writes the development key file under var/.
os.environ.setdefault("FACES_MASTER_KEY", "dGVzdC1vbmx5LWZhY2VzLW1hc3Rlci1rZXktMzJieXQ=")

from portal.settings import *  # noqa: F403

SQLITE_TEST_DIR = BASE_DIR / "var" / "test-db"  # noqa: F405

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, as `make run` uses, not Django's in-memory default: an in-memory database shares
    # one cache between connections, whose table locks refuse a concurrent reader or writer at
    # once ("database table is locked") instead of waiting. One name per test run (pytest-django
    # adds a suffix per xdist worker), so two runs in one checkout never share a file.
    _run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid{os.getpid()}"
    DATABASES["default"]["TEST"] = {"NAME": str(SQLITE_TEST_DIR / f"{_run}.sqlite3")}  # noqa: F405
