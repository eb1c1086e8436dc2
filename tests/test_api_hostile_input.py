"""What a fuzzer or a pentester sends the API without logging in is refused in the envelope with
the right status, never a 500."""

from __future__ import annotations

import pytest
from django.test import Client

from portal.test import PASSWORD
from tests.test_api_errors import assert_envelope

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("path", ["/api/auth/token/", "/api/sos/alerts/", "/api/netprobe/probes/"])
def test_deeply_nested_json_is_a_parse_error(anon_api, operator_api, path):
    api = anon_api if path == "/api/auth/token/" else operator_api
    response = api.post(path, data=DEEP, content_type="application/json")
    error = assert_envelope(response, 400, "parse_error")
    assert "nested deeper" in error["message"]


def test_json_just_past_the_depth_limit_is_refused_and_within_it_is_read(operator_api):
    from portal.jsondepth import MAX_DEPTH

    too_deep = {"message": "x", "groups": []}
    inner: dict = too_deep
    for _ in range(MAX_DEPTH):
        inner["more"] = {}
        inner = inner["more"]
    response = operator_api.post("/api/sos/alerts/", too_deep, format="json")
    assert_envelope(response, 400, "parse_error")
    shallow = operator_api.post("/api/sos/alerts/", {"message": "", "groups": []}, format="json")
    assert shallow.status_code == 400
    assert shallow.json()["error"]["code"] != "parse_error"


@pytest.mark.parametrize("body", ['"x"', "[]", "42", "null", '["olivia"]'])
def test_a_token_request_that_is_not_an_object_is_400(anon_api, db, body):
    response = anon_api.post("/api/auth/token/", data=body, content_type="application/json")
    assert_envelope(response, 400, "validation_error")


def test_a_csrf_failure_on_an_api_view_says_csrf_failed(operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post("/api/sos/groups/", {"name": "x"}, content_type="application/json")
    assert_envelope(response, 403, "csrf_failed")


def test_a_post_to_an_unknown_api_path_is_404(operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert_envelope(client.post("/api/no/such/thing/", {}), 404, "not_found")


def test_a_disallowed_host_says_host_not_allowed(db):
    response = Client().get("/api/", HTTP_HOST="evil.example")
    assert_envelope(response, 400, "host_not_allowed")


def test_the_admin_login_shares_the_login_limit(client, operator, settings):
    settings.LOGIN_RATE_LIMIT = 3
    for _ in range(3):
        response = client.post("/admin/login/", {"username": "olivia", "password": "wrong"})
        assert response.status_code == 200  # the admin's form, with its error
    # Even the right password is refused while the lock holds, here and at the other logins.
    response = client.post("/admin/login/", {"username": "olivia", "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    response = client.post("/accounts/login/", {"username": "olivia", "password": PASSWORD})
    assert response.status_code == 429


def test_failures_anywhere_lock_the_admin_login(client, anon_api, operator, settings):
    settings.LOGIN_RATE_LIMIT = 2
    client.post("/accounts/login/", {"username": "olivia", "password": "wrong"})
    anon_api.post("/api/auth/token/", {"username": "olivia", "password": "wrong"}, format="json")
    response = client.post("/admin/login/", {"username": "olivia", "password": PASSWORD})
    assert response.status_code == 429


def test_a_locked_username_cannot_authenticate_by_any_backend_call(rf, operator, settings):
    from django.contrib.auth import authenticate

    settings.LOGIN_RATE_LIMIT = 1
    request = rf.post("/anything/")
    assert authenticate(request, username="olivia", password="wrong") is None
    assert authenticate(request, username="olivia", password=PASSWORD) is None


@pytest.mark.parametrize("path", ["/netprobe/run/", "/netprobe/monitors/new/"])
def test_deeply_nested_options_in_a_form_are_a_form_error(client, operator, path):
    client.force_login(operator)
    data = {"kind": "http", "target": "http://127.0.0.1/", "name": "x", "options_json": DEEP}
    response = client.post(path, data)
    assert response.status_code == 400  # the form again, with its errors; not a 500
    assert b"<form" in response.content


def test_a_session_from_before_the_login_gate_stays_logged_in(client, operator):
    client.force_login(operator, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/").status_code == 200
