from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

ROOT = Path(__file__).resolve().parent.parent


def test_healthz_answers_without_touching_the_database(client, db):
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert len(queries) == 0


def test_readyz_reports_database_and_migrations(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"] == "ok"


def test_health_endpoints_need_no_login(client, db):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code in (200, 503)


@pytest.mark.nodb
def test_readyz_answers_503_when_the_database_is_unreachable(tmp_path):
    # A real unreachable PostgreSQL: nothing listens on port 1.
    script = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/readyz');"
        "print(r.status_code, json.dumps(r.json()))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
        "PGCONNECT_TIMEOUT": "2",
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    status, _, body = result.stdout.strip().splitlines()[-1].partition(" ")
    assert status == "503"
    assert '"reason": "database unreachable"' in body


def test_readyz_answers_503_while_migrations_are_pending(client, db, monkeypatch):
    from portal import health

    monkeypatch.setattr(health, "_migrations_applied", False)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = 'portal'")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["reason"] == "migrations pending"
