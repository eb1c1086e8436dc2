"""Zappa's real handler (zappa_settings.py from `zappa save-python-settings-file`, the
LambdaHandler singleton) answering API Gateway REST (v1) and function URL / HTTP API (v2)
events for the repository's code."""

from __future__ import annotations

import json
import re

import pytest

from tests.deploy import events
from tests.deploy.conftest import OPERATOR, PortalLambda

pytestmark = [pytest.mark.nodb, pytest.mark.slow]


def test_answers_healthz(portal_lambda: PortalLambda, kind: str) -> None:
    response = portal_lambda.call(kind, "GET", "/healthz")
    assert response.status == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["content-type"] == "application/json"
    assert not response.base64


def test_is_ready_with_migrations_applied(portal_lambda: PortalLambda, kind: str) -> None:
    response = portal_lambda.call(kind, "GET", "/readyz")
    assert response.status == 200, response.body
    assert response.json()["checks"]["database"] == "ok"
    assert response.json()["checks"]["migrations"] == "ok"


def test_prefixes_the_stage_on_the_default_rest_api_host(portal_lambda: PortalLambda) -> None:
    # On https://<api>.execute-api.<region>.amazonaws.com/dev/ Zappa sets SCRIPT_NAME=/dev, so
    # Django's redirects keep the stage; a function URL has no stage to keep.
    rest = portal_lambda.call("rest", "GET", "/")
    assert rest.status == 302
    assert rest.headers["location"] == "/dev/accounts/login/?next=/dev/"
    http = portal_lambda.call("http", "GET", "/")
    assert http.status == 302
    assert http.headers["location"] == "/accounts/login/?next=/"


def test_refuses_a_host_outside_allowed_hosts(portal_lambda: PortalLambda) -> None:
    response = portal_lambda.call("rest", "GET", "/api/", host="portal.attacker.example")
    assert response.status == 400


def test_issues_a_token_for_a_json_post(portal_lambda: PortalLambda, kind: str) -> None:
    from tests.deploy.conftest import PASSWORD

    response = portal_lambda.call(
        kind,
        "POST",
        "/api/auth/token/",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"username": OPERATOR, "password": PASSWORD}),
    )
    assert response.status == 200, response.body
    assert re.fullmatch(r"[0-9a-f]{40}", response.json()["token"])


def test_authenticates_api_calls_with_the_token(portal_lambda: PortalLambda, kind: str) -> None:
    headers = {"Authorization": f"Token {portal_lambda.token()}"}
    response = portal_lambda.call(kind, "GET", "/api/me/", headers=headers)
    assert response.status == 200, response.body
    assert response.json()["username"] == OPERATOR
    anonymous = portal_lambda.call(kind, "GET", "/api/me/")
    assert anonymous.status == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"


def test_creates_through_an_authenticated_json_post(portal_lambda: PortalLambda, kind: str) -> None:
    name = f"Lambda contact {kind}"
    response = portal_lambda.call(
        kind,
        "POST",
        "/api/sos/contacts/",
        headers={
            "Authorization": f"Token {portal_lambda.token()}",
            "Content-Type": "application/json",
        },
        body=json.dumps({"name": name, "notes": "créé par le test ✓"}),
    )
    assert response.status == 201, response
    assert response.json()["name"] == name
    assert response.json()["notes"] == "créé par le test ✓"
    anonymous = portal_lambda.call(
        kind,
        "POST",
        "/api/sos/contacts/",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"name": "nobody"}),
    )
    assert anonymous.status == 401


def test_answers_an_unknown_api_path_in_the_envelope(
    portal_lambda: PortalLambda, kind: str
) -> None:
    response = portal_lambda.call(kind, "GET", "/api/no-such-thing/")
    assert response.status == 404
    body = response.json()
    assert body["error"]["code"] == "not_found"
    assert set(body["error"]) == {"code", "message", "details"}


def test_serves_a_static_text_file(portal_lambda: PortalLambda, kind: str) -> None:
    manifest = json.loads((portal_lambda.static_root / "staticfiles.json").read_text())
    hashed = manifest["paths"]["css/portal.css"]
    response = portal_lambda.call(kind, "GET", f"/static/{hashed}")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/css")
    assert response.body == (portal_lambda.static_root / hashed).read_bytes()
    assert "immutable" in response.headers["cache-control"]


def test_serves_a_binary_static_file_base64_encoded(portal_lambda: PortalLambda, kind: str) -> None:
    manifest = json.loads((portal_lambda.static_root / "staticfiles.json").read_text())
    png = next(name for name in manifest["paths"] if name.endswith(".png"))
    response = portal_lambda.call(kind, "GET", f"/static/{manifest['paths'][png]}")
    assert response.status == 200
    assert response.headers["content-type"] == "image/png"
    assert response.base64  # binary_support: API Gateway turns it back into bytes
    assert response.body.startswith(b"\x89PNG\r\n\x1a\n")


def test_serves_a_compressed_static_file(portal_lambda: PortalLambda, kind: str) -> None:
    manifest = json.loads((portal_lambda.static_root / "staticfiles.json").read_text())
    hashed = manifest["paths"]["js/portal.js"]
    response = portal_lambda.call(
        kind, "GET", f"/static/{hashed}", headers={"Accept-Encoding": "gzip"}
    )
    assert response.status == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.base64
    import gzip

    assert gzip.decompress(response.body) == (portal_lambda.static_root / hashed).read_bytes()


def test_sends_session_cookies_after_a_login(portal_lambda: PortalLambda, kind: str) -> None:
    from tests.deploy.conftest import PASSWORD

    page = portal_lambda.call(kind, "GET", "/accounts/login/")
    assert page.status == 200
    csrf_cookie = next(c for c in page.cookies if c.startswith("csrftoken="))
    csrf = csrf_cookie.split(";", 1)[0].split("=", 1)[1]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
    assert token, page.body[:500]
    cookie = f"csrftoken={csrf}"
    host = events.REST_HOST if kind == "rest" else events.FUNCTION_URL_HOST
    prefix = "/dev" if kind == "rest" else ""
    response = portal_lambda.call(
        kind,
        "POST",
        "/accounts/login/",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Referer": f"https://{host}{prefix}/accounts/login/",
            "Origin": f"https://{host}",
            **({"Cookie": cookie} if kind == "rest" else {}),
        },
        body=events.form_body(
            {
                "username": OPERATOR,
                "password": PASSWORD,
                "csrfmiddlewaretoken": token.group(1).decode(),
            }
        ),
        **({"cookies": [cookie]} if kind == "http" else {}),
    )
    assert response.status == 302, response.body[:500]
    session = [c for c in response.cookies if c.startswith("sessionid=")]
    assert session, response.raw
    assert "Secure" in session[0]
    assert "HttpOnly" in session[0]
