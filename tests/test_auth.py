from __future__ import annotations

from django.core.management import call_command

from portal.test import PASSWORD, make_user


def test_logs_in_and_out(client, operator):
    response = client.post("/accounts/login/", {"username": "olivia", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_a_wrong_password_is_refused_with_a_message(client, operator):
    response = client.post("/accounts/login/", {"username": "olivia", "password": "nope"})
    assert response.status_code == 200
    assert b"enter a correct username and password" in response.content


def test_login_is_rate_limited_per_client(client, operator, settings):
    settings.LOGIN_RATE_LIMIT = 3
    for _ in range(3):
        client.post("/accounts/login/", {"username": "olivia", "password": "wrong"})
    # Even the right password is refused while the lock holds.
    response = client.post("/accounts/login/", {"username": "olivia", "password": PASSWORD})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert b"Too many failed logins" in response.content


def test_changes_the_password(client, operator):
    client.force_login(operator)
    response = client.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a brand new passphrase 42",
            "new_password2": "a brand new passphrase 42",
        },
    )
    assert response.status_code == 302
    operator.refresh_from_db()
    assert operator.check_password("a brand new passphrase 42")


def test_the_login_form_needs_a_csrf_token(db):
    from django.test import Client

    make_user("carl")
    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/accounts/login/", {"username": "carl", "password": PASSWORD})
    assert response.status_code == 403


def test_an_api_token_can_be_created_and_used(anon_api, operator):
    response = anon_api.post(
        "/api/auth/token/", {"username": "olivia", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    anon_api.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert anon_api.get("/api/me/").json()["username"] == "olivia"


def test_drf_create_token_makes_a_token(operator, capsys):
    call_command("drf_create_token", "olivia")
    assert "Generated token" in capsys.readouterr().out


def test_the_demo_command_creates_accounts_that_can_log_in(client, db, monkeypatch, capsys):
    monkeypatch.setenv("PORTAL_DEMO_PASSWORD", "demo pass for tests")
    call_command("portal_demo")
    call_command("portal_demo")  # idempotent
    out = capsys.readouterr().out
    assert "operator / demo pass for tests" in out
    assert client.login(username="operator", password="demo pass for tests")
    assert client.get("/").status_code == 200
    assert client.get("/admin/").status_code == 200


def test_the_token_endpoint_shares_the_login_limit(anon_api, operator, settings):
    settings.LOGIN_RATE_LIMIT = 2
    for _ in range(2):
        response = anon_api.post(
            "/api/auth/token/", {"username": "olivia", "password": "wrong"}, format="json"
        )
        assert response.status_code == 400
    response = anon_api.post(
        "/api/auth/token/", {"username": "olivia", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"


def test_the_limit_counts_the_client_behind_trusted_proxies(rf, settings):
    from portal.clients import client_ip

    request = rf.get("/", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7, 10.0.0.2")
    request.META["REMOTE_ADDR"] = "10.0.0.1"
    settings.NUM_PROXIES = 0
    assert client_ip(request) == "10.0.0.1"  # a client-sent header is not trusted
    settings.NUM_PROXIES = 2
    assert client_ip(request) == "203.0.113.7"


def test_the_login_page_shows_the_site_name(client, db, settings):
    settings.SITE_NAME = "Ops Portal"
    assert b"<h1>Ops Portal</h1>" in client.get("/accounts/login/").content


def test_a_new_password_retires_the_api_token(client, operator):
    from rest_framework.authtoken.models import Token

    Token.objects.create(user=operator)
    client.force_login(operator)
    client.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "x9 new pass!",
            "new_password2": "x9 new pass!",
        },
    )
    assert not Token.objects.filter(user=operator).exists()


def test_the_token_endpoint_is_throttled_per_anonymous_client(anon_api, operator, settings):
    from rest_framework.settings import api_settings
    from rest_framework.throttling import AnonRateThrottle

    settings.LOGIN_RATE_LIMIT = 1000
    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "anon": "3/min"}
    AnonRateThrottle.THROTTLE_RATES = rates
    try:
        statuses = [
            anon_api.post(
                "/api/auth/token/", {"username": "olivia", "password": "x"}, format="json"
            ).status_code
            for _ in range(4)
        ]
    finally:
        AnonRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    assert statuses == [400, 400, 400, 429]
