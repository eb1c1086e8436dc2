"""Credentials in contact methods stay out of the API and the UI: an Apprise URL shows only its
scheme (its host part is often the token), webhook signing secrets reach operators only, and
the full Apprise URL is for staff in the admin."""

from __future__ import annotations

import pytest
from django.test import Client

from modules.sos import services
from modules.sos.channels.apprise import redact
from modules.sos.models import Contact, ContactMethod
from portal.test import make_user

TOKEN = "AAHsecretTOKEN"
BOT = "123456789"
TELEGRAM = f"tgram://{BOT}:{TOKEN}/12345"
PUSHOVER = "pover://userkey@apptokensecret"


@pytest.fixture
def chat(db) -> ContactMethod:
    contact = Contact.objects.create(name="Chat")
    ContactMethod.objects.create(contact=contact, kind="apprise", address=PUSHOVER)
    return ContactMethod.objects.create(contact=contact, kind="apprise", address=TELEGRAM)


@pytest.fixture
def hook(db) -> ContactMethod:
    contact = Contact.objects.create(name="Bot")
    return ContactMethod.objects.create(
        contact=contact, kind="webhook", address="https://hooks.example.com/T0/secretpath"
    )


def leaks(content: bytes) -> list[str]:
    text = content.decode()
    return [s for s in (TOKEN, BOT, "apptokensecret", "userkey") if s in text]


@pytest.mark.parametrize("who", ["viewer_api", "operator_api"])
def test_the_api_shows_only_the_scheme_of_an_apprise_url(request, chat, who):
    api = request.getfixturevalue(who)
    methods = api.get("/api/sos/contact-methods/")
    assert leaks(methods.content) == []
    assert {m["address"] for m in methods.json()["results"]} == {"tgram://…", "pover://…"}
    contact = api.get(f"/api/sos/contacts/{chat.contact_id}/")
    assert leaks(contact.content) == []


def test_the_api_answer_to_creating_an_apprise_method_does_not_echo_it(operator_api, operator):
    operator.is_staff = True
    operator.save()
    contact = Contact.objects.create(name="Chat")
    body = {"contact": contact.pk, "kind": "apprise", "address": TELEGRAM}
    response = operator_api.post("/api/sos/contact-methods/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["address"] == "tgram://…"
    assert leaks(response.content) == []


@pytest.mark.parametrize("who", ["viewer_api", "operator_api"])
def test_deliveries_show_only_the_scheme_of_an_apprise_url(request, chat, who):
    alert = services.alert_raise(message="Fire", contacts=["Chat"]).alert
    api = request.getfixturevalue(who)
    detail = api.get(f"/api/sos/alerts/{alert.pk}/")
    assert detail.status_code == 200
    assert leaks(detail.content) == []
    assert leaks(api.get(f"/api/sos/deliveries/?alert={alert.pk}").content) == []


@pytest.mark.parametrize("who", ["viewer", "operator"])
def test_the_pages_show_only_the_scheme_of_an_apprise_url(request, chat, who):
    alert = services.alert_raise(message="Fire", contacts=["Chat"]).alert
    client = Client()
    client.force_login(request.getfixturevalue(who))
    contact_page = client.get(f"/sos/contacts/{chat.contact_id}/")
    assert contact_page.status_code == 200
    assert "tgram://…" in contact_page.content.decode()
    assert leaks(contact_page.content) == []
    for path in (f"/sos/alerts/{alert.pk}/", f"/sos/alerts/{alert.pk}/live/", "/sos/contacts/"):
        assert leaks(client.get(path).content) == [], path


def test_staff_see_the_whole_apprise_url_in_the_admin(chat):
    admin = make_user("ada", role=None, is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    page = client.get(f"/admin/sos/contactmethod/{chat.pk}/change/")
    assert page.status_code == 200
    assert TOKEN in page.content.decode()


def test_viewers_never_see_a_webhook_signing_secret(viewer, viewer_api, hook):
    assert hook.secret not in viewer_api.get("/api/sos/contact-methods/").content.decode()
    assert (
        hook.secret not in viewer_api.get(f"/api/sos/contacts/{hook.contact_id}/").content.decode()
    )
    rotate = viewer_api.post(f"/api/sos/contact-methods/{hook.pk}/rotate-secret/")
    assert rotate.status_code == 403
    client = Client()
    client.force_login(viewer)
    page = client.get(f"/sos/contacts/{hook.contact_id}/").content.decode()
    assert hook.secret not in page
    assert "secretpath" not in page
    assert "https://hooks.example.com/…" in page


def test_operators_see_the_webhook_they_configure_and_its_secret(operator, hook):
    client = Client()
    client.force_login(operator)
    page = client.get(f"/sos/contacts/{hook.contact_id}/").content.decode()
    assert hook.secret in page
    assert "https://hooks.example.com/T0/secretpath" in page


def test_an_apprise_error_message_does_not_repeat_the_url_tokens():
    text = f"Failed to send Telegram notification with bot {BOT}:{TOKEN}: 401 Unauthorized"
    redacted = redact(text, TELEGRAM)
    assert TOKEN not in redacted
    assert "401 Unauthorized" in redacted
