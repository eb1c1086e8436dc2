from __future__ import annotations

import json
import logging

import pytest


def test_pages_carry_a_strict_content_security_policy(client, operator):
    client.force_login(operator)
    response = client.get("/")
    csp = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_pages_use_no_cdn(client, operator):
    client.force_login(operator)
    html = client.get("/").content.decode()
    assert "https://" not in html
    assert "http://" not in html.replace("http://testserver", "")


def test_the_api_docs_are_served_locally(client, operator):
    client.force_login(operator)
    html = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    assert json.loads(schema.content)["openapi"].startswith("3.")


@pytest.mark.nodb
def test_cookies_are_secure_and_http_only_without_debug():
    from portal import settings

    assert settings.SESSION_COOKIE_HTTPONLY
    assert settings.CSRF_COOKIE_HTTPONLY
    if not settings.DEBUG:
        assert settings.SESSION_COOKIE_SECURE is True


def test_each_request_is_logged_once_with_a_request_id(client, db, caplog):
    with caplog.at_level(logging.INFO, logger="portal.request"):
        response = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    records = [r for r in caplog.records if r.name == "portal.request"]
    assert len(records) == 1
    assert records[0].status == 200
    assert records[0].request_id == "abc-123" or records[0].path == "/healthz"


def test_an_unsafe_request_id_is_replaced(client, db):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert "\n" not in response["X-Request-ID"]
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.nodb
def test_log_lines_are_json_objects_with_the_request_id():
    from pythonjsonlogger.json import JsonFormatter

    from portal.logs import RequestIdFilter, request_id_var

    formatter = JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
        rename_fields={"levelname": "level"},
    )
    token = request_id_var.set("req-42")
    try:
        record = logging.LogRecord(
            "portal.request", logging.INFO, __file__, 1, "GET / 200", (), None
        )
        record.status = 200
        RequestIdFilter().filter(record)
        line = json.loads(formatter.format(record))
    finally:
        request_id_var.reset(token)
    assert line["request_id"] == "req-42"
    assert line["level"] == "INFO"
    assert line["status"] == 200


def test_a_signed_token_in_the_url_is_not_logged(client, db, caplog):
    with caplog.at_level(logging.INFO, logger="portal.request"):
        client.get("/sos/ack/s3cret-token-value/")
    [record] = [r for r in caplog.records if r.name == "portal.request"]
    assert "s3cret-token-value" not in record.getMessage()
    assert record.path == "/sos/ack/<token>/"
