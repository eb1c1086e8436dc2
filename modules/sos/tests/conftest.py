from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from modules.sos.tests.peers import MotoServer, SmtpServer, WebhookReceiver

SENDER = "portal@example.com"


@pytest.fixture(autouse=True)
def _sos_settings(settings: Any) -> None:
    # Deterministic by default: no background thread; tests call process_due_deliveries().
    settings.SOS_WAKE = "none"
    settings.SOS_WORKERS = 4
    settings.SOS_MAX_ATTEMPTS = 5
    settings.SOS_BACKOFF_BASE_S = 10.0
    settings.SOS_BACKOFF_MAX_S = 600.0
    settings.SOS_LEASE_S = 60
    settings.SOS_SEND_TIMEOUT_S = 5.0
    settings.SOS_EMAIL_BACKEND = "locmem"
    settings.SOS_EMAIL_FROM = f"Portal <{SENDER}>"
    settings.PUBLIC_BASE_URL = "http://portal.test"
    # The rate governor stays out of the way unless a test sets a rate (test_governor.py).
    settings.SOS_RATE_EMAIL = settings.SOS_RATE_SMS = 0
    settings.SOS_RATE_WEBHOOK = settings.SOS_RATE_APPRISE = 0


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    settings.SOS_EMAIL_BACKEND = "smtp"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, settings: Any) -> MotoServer:
    """moto's SES and SNS at AWS_ENDPOINT_URL (setting and environment), fresh for each test,
    with a verified sender."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    settings.SOS_AWS_REGION = "us-east-1"
    settings.AWS_ENDPOINT_URL = moto_server.url  # the SOS clients; the env var: boto3 here
    moto_server.reset()
    boto3.client("ses", region_name="us-east-1").verify_email_identity(EmailAddress=SENDER)
    return moto_server


@pytest.fixture
def make_contact(db: None) -> Callable[..., Any]:
    """make_contact("Ann", email="ann@example.com", groups=["ops"]) -> Contact"""
    from modules.sos.models import Contact, ContactMethod, Group

    def make(
        name: str,
        *,
        email: str | None = None,
        phone: str | None = None,
        webhook: str | None = None,
        apprise: str | None = None,
        groups: tuple[str, ...] | list[str] = (),
    ) -> Contact:
        contact = Contact.objects.create(name=name)
        for kind, address in (
            ("email", email),
            ("sms", phone),
            ("webhook", webhook),
            ("apprise", apprise),
        ):
            if address:
                ContactMethod.objects.create(contact=contact, kind=kind, address=address)
        for group in groups:
            Group.objects.get_or_create(name=group)[0].members.add(contact)
        return contact

    return make


@pytest.fixture
def dispatch() -> Callable[..., Any]:
    """Run one dispatcher pass with the test's settings (optionally at a pinned time)."""
    from modules.sos.outbox.dispatch import process_due_deliveries

    return process_due_deliveries


# Two-way replies: the fake SNS (loopback HTTPS, test CA) and its trusted-settings fixture.
from modules.sos.tests.inbound_peers import fake_sns, sns_peer  # noqa: E402, F401
