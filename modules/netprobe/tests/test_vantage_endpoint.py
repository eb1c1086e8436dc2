"""The vantage's endpoints through Django's test client, with the settings of the vantage role.

No test here may use the database (pytest-django refuses it without the `db` fixture): that
is the vantage's contract, it holds none.
"""

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
from django.test import Client, override_settings

from modules.netprobe.vantages.codec import result_from_dict
from modules.netprobe.vantages.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signed_headers,
    verify_reply,
)

from .servers import TcpListener
from .webprocess import REPO

# Fixed: parametrized ids must be the same in every xdist worker.
SECRET = "current-vantage-secret-0123456789abcdef"
OLD_SECRET = "previous-vantage-secret-0123456789abcdef"
PROBE = "/vantage/v1/probe"
HEALTH = "/vantage/v1/health"


@pytest.fixture(autouse=True)
def vantage_role(settings: Any) -> Iterator[None]:
    settings.NETPROBE_ROLE = "vantage"
    settings.NETPROBE_VANTAGE_SECRETS = [SECRET, OLD_SECRET]
    settings.NETPROBE_VANTAGE_REGION = "eu-test-1"
    settings.ROOT_URLCONF = "modules.netprobe.vantages.urls"
    settings.MIDDLEWARE = [
        "portal.logs.RequestLogMiddleware",
        "portal.limits.RequestSizeLimitMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
    ]
    cache.clear()
    yield
    cache.clear()


def headers_for(
    method: str, path: str, body: bytes, *, secret: str = SECRET, now: float | None = None
) -> dict[str, str]:
    return {
        f"HTTP_{k.upper().replace('-', '_')}": v
        for k, v in signed_headers(secret, method=method, path=path, body=body, now=now).items()
    }


def body_of(target: str, kind: str = "tcp", **options: Any) -> bytes:
    payload = {"request_id": f"r{time.monotonic_ns()}", "kind": kind, "target": target}
    return json.dumps({**payload, "options": options}).encode()


def post(body: bytes, **sign: Any) -> Any:
    return Client().post(
        PROBE, body, content_type="application/json", **headers_for("POST", PROBE, body, **sign)
    )


def error_code(response: Any) -> str:
    return response.json()["error"]["code"]


def test_it_runs_a_signed_probe_and_answers_the_engine_result():
    with TcpListener() as listener:
        body = body_of(listener.target, count=2, interval=0.05)
        headers = headers_for("POST", PROBE, body)
        response = Client().post(PROBE, body, content_type="application/json", **headers)
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["request_id"] == json.loads(body)["request_id"]
    verify_reply(  # signed for this request, with the secret that signed it
        SECRET,
        request_signature=headers["HTTP_X_NETPROBE_SIGNATURE"],
        timestamp=response[TIMESTAMP_HEADER],
        signature_header=response[SIGNATURE_HEADER],
        body=response.content,
    )
    result = result_from_dict(data["result"])
    assert (result.kind, result.status, result.result["received"]) == ("tcp", "ok", 2)


def test_it_accepts_the_previous_secret_during_a_rotation():
    with TcpListener() as listener:
        response = post(body_of(listener.target, count=1), secret=OLD_SECRET)
    assert response.status_code == 200


def test_it_answers_its_health_when_signed():
    body = json.dumps({"request_id": "abc123"}).encode()
    response = Client().post(
        HEALTH, body, content_type="application/json", **headers_for("POST", HEALTH, body)
    )
    assert response.status_code == 200
    data = response.json()
    assert data["request_id"] == "abc123"
    assert (data["status"], data["region"], data["version"]) == ("ok", "eu-test-1", "v1")
    assert "time" in data


@pytest.mark.parametrize(
    ("secret", "clock_offset_s"),
    [
        ("w" * 40, 0),  # a wrong secret
        (SECRET, -120),  # the hub's clock 2 minutes behind
        (SECRET, 120),  # ... or ahead
    ],
)
def test_it_refuses_a_bad_signature_or_a_clock_two_minutes_off(secret, clock_offset_s):
    response = post(body_of("127.0.0.1:9"), secret=secret, now=time.time() + clock_offset_s)
    assert response.status_code == 401
    assert error_code(response) == "signature_invalid"
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_it_refuses_an_unsigned_request_and_an_unsigned_health_check():
    response = Client().post(PROBE, body_of("127.0.0.1:9"), content_type="application/json")
    assert (response.status_code, error_code(response)) == (401, "signature_invalid")
    response = Client().post(HEALTH)
    assert (response.status_code, error_code(response)) == (401, "signature_invalid")


def test_it_refuses_a_replayed_request():
    with TcpListener() as listener:
        body = body_of(listener.target, count=1)
        headers = headers_for("POST", PROBE, body)
        first = Client().post(PROBE, body, content_type="application/json", **headers)
        second = Client().post(PROBE, body, content_type="application/json", **headers)
    assert first.status_code == 200
    assert second.status_code == 401
    assert "replay" in second.json()["error"]["message"]


def test_an_invalid_spec_is_a_validation_error_naming_the_field():
    response = post(body_of("127.0.0.1:9", count=10_000))
    assert (response.status_code, error_code(response)) == (400, "validation_error")
    assert "count" in response.json()["error"]["details"]["fields"]
    response = post(json.dumps({"request_id": "x", "kind": "smtp", "target": "a"}).encode())
    assert "kind" in response.json()["error"]["details"]["fields"]
    response = post(b"[1, 2]")
    assert (response.status_code, error_code(response)) == (400, "validation_error")


def test_a_target_refused_by_the_vantages_own_policy_is_its_forbidden_result():
    response = post(body_of("http://169.254.169.254/latest/meta-data/", kind="http"))
    assert response.status_code == 200
    result = result_from_dict(response.json()["result"])
    assert (result.status, result.error.code) == ("failed", "forbidden")


def test_it_refuses_a_body_beyond_its_bound_before_reading_it():
    body = body_of("127.0.0.1:9", conditions=["x" * 70_000])
    response = post(body)
    assert (response.status_code, error_code(response)) == (413, "payload_too_large")


def test_it_serves_nothing_but_the_vantage_endpoints_and_healthz():
    client = Client()
    assert client.get("/healthz").json() == {"status": "ok"}
    for path in ("/", "/api/netprobe/probes/", "/admin/", "/accounts/login/", "/readyz"):
        response = client.get(path)
        assert (response.status_code, error_code(response)) == (404, "not_found"), path
    response = client.get(PROBE)
    assert (response.status_code, error_code(response)) == (405, "method_not_allowed")


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (None, "NETPROBE_VANTAGE_SECRET must be set when NETPROBE_ROLE=vantage"),
        ("too-short", "NETPROBE_VANTAGE_SECRET must be at least 32 bytes"),
        (f"{SECRET},short", "NETPROBE_VANTAGE_SECRET must be at least 32 bytes"),
    ],
)
def test_a_vantage_will_not_start_without_a_secret_of_32_bytes(secret, message):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "NETPROBE_"))}
    env.update({"DJANGO_SETTINGS_MODULE": "portal.settings", "NETPROBE_ROLE": "vantage"})
    env.update({"SECRET_KEY": "x" * 50, "DEBUG": "0", "DOTENV": "0"})
    if secret is not None:
        env["NETPROBE_VANTAGE_SECRET"] = secret
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert message in done.stderr


def test_it_refuses_to_run_a_request_it_cannot_check_for_a_replay():
    unreachable = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens on the discard port
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
    with override_settings(CACHES={"default": unreachable}):
        response = post(body_of("127.0.0.1:9"))
    assert (response.status_code, error_code(response)) == (503, "replay_store_unavailable")
