"""Preflight warnings: what each channel needs, known without sending, and shown where an
operator acts: at contact (method) save, at preview and raise, and on the alert page."""

from __future__ import annotations

import sys

import pytest
from django.test import Client

from modules.sos import services
from modules.sos.models import Alert, Contact, Group
from modules.sos.preflight import channel_warnings
from modules.sos.tests.aws_env import no_aws_fixture  # noqa: F401 - the no_aws fixture
from portal.test import PASSWORD


def codes(kinds: list[str]) -> list[tuple[str, str]]:
    return [(w.kind, w.code) for w in channel_warnings(kinds)]


def login(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_it_warns_that_sms_needs_aws_credentials_when_none_resolve(no_aws, settings):
    settings.SOS_AWS_REGION = "eu-west-1"
    (warning,) = channel_warnings(["sms"])
    assert (warning.kind, warning.code) == ("sms", "aws_credentials_missing")
    assert warning.message.startswith("SMS cannot be sent: no AWS credentials were found")


def test_credentials_in_the_shared_file_or_the_environment_are_enough(no_aws, monkeypatch):
    (no_aws / "credentials").write_text(
        "[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = secret\n"
    )
    assert codes(["sms"]) == []
    (no_aws / "credentials").write_text("")
    assert codes(["sms"]) == [("sms", "aws_credentials_missing")]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    assert codes(["sms"]) == []


def test_a_container_role_counts_without_asking_its_endpoint(no_aws, monkeypatch):
    # EKS Pod Identity / ECS: botocore would fetch from this URL; nothing listens there.
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/creds")
    assert codes(["sms"]) == []


def test_a_missing_profile_or_a_wrong_region_is_named(no_aws, monkeypatch, settings):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    settings.SOS_AWS_REGION = "mars-north-1"
    assert codes(["sms"]) == [("sms", "aws_region_invalid")]
    settings.SOS_AWS_REGION = ""
    assert codes(["sms"]) == [("sms", "aws_region_missing")]
    settings.SOS_AWS_REGION = "us-east-1"
    monkeypatch.setenv("AWS_PROFILE", "nobody-has-this-profile")
    (warning,) = channel_warnings(["sms"])
    assert warning.code == "aws_config_invalid"
    assert "nobody-has-this-profile" in warning.message


def test_email_over_smtp_needs_a_host_and_a_sender(settings):
    settings.SOS_EMAIL_BACKEND = "smtp"
    settings.EMAIL_HOST = "smtp.example.com"
    assert codes(["email"]) == []
    settings.EMAIL_HOST = ""
    settings.SOS_EMAIL_FROM = "Portal"
    assert codes(["email"]) == [("email", "email_host_missing"), ("email", "email_sender_missing")]
    settings.SOS_EMAIL_BACKEND = "default"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.SOS_EMAIL_FROM = "portal@example.com"
    assert codes(["email"]) == [("email", "email_host_missing")]


def test_email_through_ses_needs_aws_credentials_and_a_sender(no_aws, settings):
    settings.SOS_EMAIL_BACKEND = "ses"
    settings.SOS_EMAIL_FROM = ""
    assert codes(["email"]) == [
        ("email", "aws_credentials_missing"),
        ("email", "email_sender_missing"),
    ]
    assert channel_warnings(["email"])[0].message.startswith(
        "Email through Amazon SES cannot be sent"
    )


def test_ses_with_credentials_and_a_sender_is_ready(aws, settings):
    settings.SOS_EMAIL_BACKEND = "ses"
    assert codes(["email", "sms"]) == []


@pytest.mark.parametrize(
    ("choice", "email_backend", "source"),
    [
        ("console", "", "SOS_EMAIL_BACKEND is 'console'"),
        ("locmem", "", "SOS_EMAIL_BACKEND is 'locmem'"),
        ("default", "django.core.mail.backends.console.EmailBackend", "EMAIL_BACKEND is 'console'"),
    ],
)
def test_a_backend_that_delivers_nothing_is_said_to(settings, choice, email_backend, source):
    settings.SOS_EMAIL_BACKEND = choice
    if email_backend:
        settings.EMAIL_BACKEND = email_backend
    (warning,) = channel_warnings(["email"])
    assert warning.code == "email_not_delivered"
    assert source in warning.message


def test_webhooks_need_nothing_and_apprise_needs_its_library(settings, monkeypatch):
    assert codes(["webhook", "apprise"]) == []
    monkeypatch.setitem(sys.modules, "apprise", None)  # the library cannot be uninstalled here
    assert codes(["webhook", "apprise"]) == [("apprise", "apprise_missing")]


def test_unknown_kinds_are_ignored_and_the_order_is_fixed(no_aws, settings):
    settings.SOS_EMAIL_BACKEND = "console"
    assert codes(["pigeon", "sms", "email"]) == [
        ("email", "email_not_delivered"),
        ("sms", "aws_credentials_missing"),
    ]


# Where the warnings are shown.


def test_adding_a_method_in_the_ui_warns_and_still_saves(no_aws, operator, db):
    client = login(operator)
    response = client.post(
        "/sos/contacts/",
        {"name": "Cid", "is_active": "on", "m-kind": "sms", "m-address": "+15555550100"},
        follow=True,
    )
    page = response.content.decode()
    assert "Contact Cid added." in page
    assert "SMS cannot be sent: no AWS credentials were found" in page
    contact = Contact.objects.get()
    response = client.post(
        f"/sos/contacts/{contact.pk}/",
        {"add_method": "1", "kind": "webhook", "address": "https://hooks.example.com/x"},
        follow=True,
    )
    assert "Contact method added." in response.content.decode()
    assert "cannot be sent" not in response.content.decode()  # webhooks need nothing
    assert contact.methods.count() == 2


def test_the_api_answers_a_saved_method_or_contact_with_its_warnings(no_aws, operator_api, db):
    created = operator_api.post(
        "/api/sos/contacts/",
        {"name": "Ann", "new_methods": [{"kind": "sms", "address": "+15555550100"}]},
        format="json",
    )
    assert created.status_code == 201
    assert [w["code"] for w in created.json()["warnings"]] == ["aws_credentials_missing"]
    contact = created.json()["id"]
    method = operator_api.post(
        "/api/sos/contact-methods/",
        {"contact": contact, "kind": "webhook", "address": "https://hooks.example.com/x"},
        format="json",
    )
    assert method.status_code == 201
    assert method.json()["warnings"] == []
    sms = created.json()["methods"][0]["id"]
    patched = operator_api.patch(
        f"/api/sos/contact-methods/{sms}/", {"label": "mobile"}, format="json"
    )
    assert patched.status_code == 200
    assert patched.json()["warnings"] == [
        {
            "kind": "sms",
            "code": "aws_credentials_missing",
            "message": patched.json()["warnings"][0]["message"],
        }
    ]


def test_preview_and_raise_warn_and_the_raise_goes_ahead(no_aws, operator_api, make_contact):
    make_contact("Ann", phone="+15555550100", email="ann@example.com", groups=["ops"])
    body = {"message": "Fire", "groups": ["ops"], "dry_run": True}
    preview = operator_api.post("/api/sos/alerts/", body, format="json")
    assert preview.status_code == 200
    assert [(w["kind"], w["code"]) for w in preview.json()["warnings"]] == [
        ("email", "email_not_delivered"),  # the tests' locmem backend
        ("sms", "aws_credentials_missing"),
    ]
    raised = operator_api.post("/api/sos/alerts/", {**body, "dry_run": False}, format="json")
    assert raised.status_code == 201
    assert [w["code"] for w in raised.json()["warnings"]] == [
        "email_not_delivered",
        "aws_credentials_missing",
    ]
    assert Alert.objects.get().deliveries.count() == 2


def test_the_preview_form_and_the_alert_page_show_the_warnings(no_aws, operator, make_contact):
    make_contact("Ann", phone="+15555550100", groups=["ops"])
    client = login(operator)
    group = Group.objects.get()
    preview = client.post(
        "/sos/",
        {"message": "x", "severity": "info", "groups": [group.pk], "preview": "1"},
    ).content.decode()
    assert "1 recipient would be reached" in preview
    assert 'data-warning="aws_credentials_missing"' in preview
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    page = client.get(f"/sos/alerts/{alert.pk}/").content.decode()
    assert 'id="channel-warnings"' in page
    assert "SMS cannot be sent: no AWS credentials were found" in page
    services.alert_resolve(alert=alert)
    assert 'id="channel-warnings"' not in client.get(f"/sos/alerts/{alert.pk}/").content.decode()
