"""What the public acknowledgement page shows and reads besides the answer: its choices, the
alert's final state, the note and the browser's location (modules/sos/static/sos/ack.js)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from modules.sos.acks import AckResult
from modules.sos.answers import NOTE_MAX, AnswerLocation, alert_ack_kind, answer_choices
from modules.sos.errors import InvalidAlert
from modules.sos.models import AlertEvent, Delivery

ANSWER_EVENTS = [
    AlertEvent.Kind.ACKNOWLEDGED,
    AlertEvent.Kind.ANSWERED_AGAIN,
    AlertEvent.Kind.LATE_ANSWER,
]


def _label(answer: str) -> str:
    """The answer in the recipient's own words, as on the buttons ("I need help")."""
    return Delivery.Answer(answer).label if answer in Delivery.Answer.values else ""


def ack_form_location(request: HttpRequest) -> tuple[AnswerLocation | None, bool]:
    """The location the page's script filled in, if any, and whether it had to be dropped.

    A bad location never costs the answer: it is left out and the page says so.
    """
    if request.method != "POST":
        return None, False
    lat = request.POST.get("latitude", "").strip()
    lon = request.POST.get("longitude", "").strip()
    if not lat and not lon:
        return None, False
    try:
        return AnswerLocation.from_strings(lat, lon, request.POST.get("accuracy_m", "")), False
    except InvalidAlert:
        return None, True


def ack_page_context(
    delivery: Delivery, *, result: AckResult | None, location_refused: bool
) -> dict[str, Any]:
    alert = delivery.alert
    kind = alert_ack_kind(alert)
    answers = AlertEvent.objects.filter(delivery=delivery, kind__in=ANSWER_EVENTS).order_by("id")
    return {
        "delivery": delivery,
        "alert": alert,
        "result": result,
        "answers": [
            {
                "label": _label(e.data.get("answer", "")),
                "at": e.created_at,
                "kind": e.kind,
                "note": e.data.get("note", ""),
            }
            for e in answers
        ],
        "choices": answer_choices(alert),
        "ack_kind": kind,
        "first_label": _label(delivery.answer),
        "last_label": _label(delivery.last_answer),
        "closed": alert.status != alert.Status.OPEN,
        "note_max": NOTE_MAX,
        "location_refused": location_refused,
    }
