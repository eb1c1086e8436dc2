"""The webhook payload matches its documented JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings

from modules.sos import services

jsonschema = pytest.importorskip("jsonschema")
SCHEMA = Path(settings.BASE_DIR) / "templates" / "sos" / "webhook-schema.json"


def test_every_webhook_payload_validates_against_the_schema(make_contact, receiver, dispatch):
    make_contact("Bot", webhook=receiver.url(), groups=["ops"])
    services.alert_raise(message="Fire", groups=["ops"], location={"lat": 1.5, "lon": 2.5})
    services.alert_raise(message="Test", groups=["ops"], severity="info")
    dispatch()
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert len(receiver.requests) == 2
    for request in receiver.requests:
        jsonschema.validate(request.json(), schema)
