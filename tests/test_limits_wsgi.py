"""Body limits through a real WSGI server: the test client skips the WSGI rules."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest


@pytest.mark.parametrize(("path", "json_body"), [("/api/auth/token/", True), ("/faces/", False)])
def test_an_oversized_body_is_refused_with_413(live_server, settings, path, json_body):
    settings.REQUEST_MAX_BYTES = 100_000
    url = urlsplit(live_server.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    connection.request(
        "POST", path, body=b"x" * 100_001, headers={"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 413
    if json_body:
        assert json.loads(body)["error"]["code"] == "payload_too_large"
    else:
        assert b"Too large" in body
