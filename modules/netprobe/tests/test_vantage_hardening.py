"""What a vantage or a hub must survive from the other side: strange signature headers, results
that are not results, another protocol version, secrets no vantage could be configured with, a
replay store that only one process sees. Peers are a fake vantage on loopback (fakevantage.py)
and the vantage endpoint itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from modules.netprobe.models import Vantage
from modules.netprobe.vantages.signing import TIMESTAMP_HEADER

from .fakevantage import FakeVantage
from .webprocess import REPO

pytestmark = pytest.mark.usefixtures("np_settings")

VANTAGES = "/api/netprobe/vantages/"
PROBES = "/api/netprobe/probes/"
SECRET = "current-vantage-secret-0123456789abcdef"


@pytest.fixture
def fake() -> Iterator[FakeVantage]:
    with FakeVantage() as server:
        Vantage.objects.create(name="fake", region="x", url=server.url, secret=server.secret)
        yield server


def measure_at_fake(api: Any, target: str) -> dict[str, dict[str, Any]]:
    response = api.post(
        PROBES,
        {"kind": "http", "target": target, "timeout": 2, "locations": ["local", "fake"]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return {e["location"]: e for e in response.json()["results"]}


# --- signatures ---------------------------------------------------------------------------------


def test_a_vantage_answers_401_to_a_signature_header_that_is_not_ascii(settings):
    settings.NETPROBE_ROLE = "vantage"
    settings.NETPROBE_VANTAGE_SECRETS = [SECRET]
    settings.ROOT_URLCONF = "modules.netprobe.vantages.urls"
    cache.clear()
    body = json.dumps({"request_id": "r1", "kind": "tcp", "target": "127.0.0.1:9"}).encode()
    response = Client().post(
        "/vantage/v1/probe",
        body,
        content_type="application/json",
        HTTP_X_NETPROBE_SIGNATURE="v1=éé",
        **{f"HTTP_{TIMESTAMP_HEADER.upper().replace('-', '_')}": str(int(time.time()))},
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "signature_invalid"


@pytest.mark.django_db
def test_a_reply_signed_with_a_non_ascii_header_leaves_the_vantage_unhealthy_not_a_500(
    operator_api, fake
):
    fake.signature = "v1=éé"
    pk = Vantage.objects.get(name="fake").pk

    response = operator_api.post(f"{VANTAGES}{pk}/check/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["last_check_ok"] is False
    assert "signature" in body["last_check_error"]


# --- results that are not results ---------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "patch",
    [
        {"kind": "http", "result": {"timings": [1, 2]}},
        {"kind": "http", "result": {"timings": {"total_ms": "fast"}}},
        {"kind": "tls", "result": {"timings": {"connect_ms": None}}},
        {"duration_ms": float("nan")},
        {"duration_ms": float("inf")},
        {"kind": "http", "result": {"conditions": "all good"}},
        {"kind": "http", "result": {"failed_phase": 3}},
    ],
    ids=[
        "timings-a-list",
        "timings-text",
        "tls-phase-missing",
        "nan",
        "inf",
        "conditions-text",
        "phase-a-number",
    ],
)
def test_a_malformed_result_is_that_locations_unavailable_and_the_hub_still_answers(
    operator_api, fake, http_server, patch
):
    fake.result_patch = patch

    entries = measure_at_fake(operator_api, f"{http_server.url}/")

    assert entries["local"]["status"] == "ok"
    assert entries["fake"]["status"] == "vantage_unavailable"
    assert "malformed result" in entries["fake"]["reason"] or "JSON" in entries["fake"]["reason"]


@pytest.mark.django_db
@pytest.mark.parametrize("protocol", [None, "v0"])
def test_a_vantage_speaking_another_protocol_is_unavailable_saying_so(
    operator_api, fake, http_server, protocol
):
    fake.protocol = protocol

    entries = measure_at_fake(operator_api, f"{http_server.url}/")

    assert entries["fake"]["status"] == "vantage_unavailable"
    assert "protocol" in entries["fake"]["reason"]


# --- secrets and the replay store ---------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "secret", ["s," * 20, " " * 40, "a" * 20 + " " + "b" * 20, "a" * 40 + "\x07"]
)
def test_a_secret_no_vantage_could_be_configured_with_is_refused(operator_api, secret):
    response = operator_api.post(
        VANTAGES,
        {"name": "eu", "url": "http://127.0.0.2:8001", "secret": secret},
        format="json",
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], list(error["details"]["fields"])) == ("validation_error", ["secret"])
    assert not Vantage.objects.exists()


def start_settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "NETPROBE_"))}
    clean.pop("CACHE_URL", None)
    clean.update({"DJANGO_SETTINGS_MODULE": "portal.settings", "NETPROBE_ROLE": "vantage"})
    clean.update({"SECRET_KEY": "x" * 50, "DEBUG": "0", "DOTENV": "0"})
    clean.update({"NETPROBE_VANTAGE_SECRET": SECRET, **env})
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_vantage_keeps_replays_per_process_only_when_told_to():
    refused = start_settings(CACHE_URL="locmem://")
    declared = start_settings(CACHE_URL="locmem://", NETPROBE_VANTAGE_REPLAY_STORE="process")

    assert refused.returncode != 0
    assert "NETPROBE_VANTAGE_REPLAY_STORE=process" in refused.stderr
    assert declared.returncode == 0, declared.stderr


def test_a_reason_from_a_vantage_is_stored_as_one_printable_line():
    # A reason is stored with the measurement, and PostgreSQL refuses a NUL in text.
    from modules.netprobe.vantages.client import one_line

    assert one_line("bad\x00 gate\x07way\r\n  502") == "bad gateway 502"
    assert len(one_line("x" * 1000)) == 300
