"""Every API error has one shape: {"error": {"code", "message", "details"}} and the right status."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.urls("tests.urls_errors")


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def test_validation_errors_are_400_with_field_details(operator_api):
    error = assert_envelope(
        operator_api.post("/api/test/validate/", {"name": "x" * 20, "count": 0}, format="json"),
        400,
        "validation_error",
    )
    assert set(error["details"]["fields"]) == {"name", "count"}


def test_malformed_json_is_400_parse_error(operator_api):
    response = operator_api.post(
        "/api/test/validate/", data="{not json", content_type="application/json"
    )
    assert_envelope(response, 400, "parse_error")


def test_missing_credentials_are_401_with_a_challenge(anon_api):
    response = anon_api.get("/api/me/")
    assert_envelope(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_a_bad_token_is_401(anon_api, db):
    anon_api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert_envelope(anon_api.get("/api/me/"), 401, "authentication_failed")


def test_a_viewer_gets_403_on_an_operator_action(viewer_api):
    error = assert_envelope(viewer_api.post("/api/test/operator/"), 403, "permission_denied")
    assert "operators" in error["message"]


def test_an_unknown_endpoint_is_404(operator_api):
    assert_envelope(operator_api.get("/api/does-not-exist/"), 404, "not_found")


def test_a_wrong_method_is_405(operator_api):
    assert_envelope(operator_api.delete("/api/me/"), 405, "method_not_allowed")


def test_an_oversized_body_is_413(operator_api, settings):
    settings.REQUEST_MAX_BYTES = 10_000
    response = operator_api.post(
        "/api/test/validate/", data="x" * 20_000, content_type="application/json"
    )
    assert_envelope(response, 413, "payload_too_large")


def test_json_over_the_data_limit_is_413(operator_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000
    payload = '{"name": "%s", "count": 1}' % ("y" * 5_000)
    response = operator_api.post(
        "/api/test/validate/", data=payload, content_type="application/json"
    )
    assert_envelope(response, 413, "payload_too_large")


def test_unprocessable_input_is_422_with_a_specific_code(operator_api):
    error = assert_envelope(operator_api.get("/api/test/unprocessable/"), 422, "no_face")
    assert error["details"] == {"image": "b"}


def test_throttling_is_429_with_retry_after(operator_api):
    assert operator_api.get("/api/test/throttled/").status_code == 200
    response = operator_api.get("/api/test/throttled/")
    error = assert_envelope(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    assert error["details"]["retry_after_s"] > 0


def test_a_forbidden_egress_target_is_400_target_forbidden(operator_api):
    error = assert_envelope(operator_api.get("/api/test/forbidden/"), 400, "target_forbidden")
    assert "127.0.0.1" in error["message"]


def test_an_unhandled_exception_is_500_without_a_stack_trace(operator_api, caplog):
    operator_api.raise_request_exception = False
    response = operator_api.get("/api/test/crash/")
    assert_envelope(response, 500, "server_error")
    assert b"hunter2" not in response.content
    assert b"Traceback" not in response.content
    assert any("Unhandled API error" in r.message for r in caplog.records)
