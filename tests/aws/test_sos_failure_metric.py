"""The alarm on failed SOS deliveries (ops/aws/operations.yaml) counts the JSON line a real failed
delivery writes on Lambda, and not the dispatcher's other lines."""

from __future__ import annotations

import json
import logging
import re

import pytest

from tests.aws.support import template


def _json_log_line(record: logging.LogRecord) -> str:
    """The record formatted as production formats it: LOGGING's json formatter and filter."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    from portal.logs import RequestIdFilter

    spec = dict(settings.LOGGING["formatters"]["json"])
    formatter = import_string(spec.pop("()"))(**spec)
    RequestIdFilter().filter(record)
    return formatter.format(record)


def _matches(pattern: str, line: str) -> bool:
    """CloudWatch Logs' JSON filter syntax as the template uses it: `($.key = "value")` terms
    joined by &&, a trailing * matching any rest."""
    terms = re.findall(r'\(\$\.(\w+) = "([^"]*)"\)', pattern)
    assert terms, pattern
    assert pattern.count("&&") == len(terms) - 1, pattern
    event = json.loads(line)
    for key, expected in terms:
        value = str(event.get(key, ""))
        if expected.endswith("*"):
            if not value.startswith(expected[:-1]):
                return False
        elif value != expected:
            return False
    return True


@pytest.mark.django_db
def test_the_sos_failure_metric_counts_the_line_a_failed_delivery_writes(
    settings: pytest.FixtureRequest,
) -> None:
    from modules.sos import services
    from modules.sos.models import Contact, ContactMethod, Group
    from modules.sos.outbox.dispatch import process_due_deliveries

    settings.SOS_WAKE = "none"
    contact = Contact.objects.create(name="Bot")
    ContactMethod.objects.create(contact=contact, kind="webhook", address="http://127.0.0.1:9/")
    Group.objects.create(name="ops").members.add(contact)
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    settings.EGRESS_ALLOWED_NETWORKS = []  # the webhook's address is refused: a permanent error

    records: list[logging.LogRecord] = []
    catcher = logging.Handler(level=logging.DEBUG)
    catcher.emit = records.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(catcher)
    try:
        process_due_deliveries()
    finally:
        logging.getLogger().removeHandler(catcher)
    assert alert.deliveries.get().state == "failed"

    pattern = template("operations")["Resources"]["SosDeliveryFailures"]["Properties"][
        "FilterPattern"
    ]
    lines = [_json_log_line(r) for r in records if r.name.startswith("modules.sos")]
    matched = [line for line in lines if _matches(pattern, line)]
    assert len(matched) == 1, lines
    assert "failed" in json.loads(matched[0])["message"]
    # The dispatcher's other lines are not counted: a delivery handed back, a claim that failed.
    for level, message in (
        (logging.INFO, "SOS delivery 7 handed back unsent: its lease no longer covered a send"),
        (logging.WARNING, "SOS dispatch: claiming failed, the database is unreachable"),
    ):
        record = logging.makeLogRecord(
            {
                "name": "modules.sos.dispatch",
                "levelno": level,
                "levelname": logging.getLevelName(level),
                "msg": message,
            }
        )
        assert not _matches(pattern, _json_log_line(record)), message
