"""The roll-call of an alert: one row per person, their latest answer, counts per status.

A person is a contact: several contact methods of one contact are one person, whose status is
the latest answer given on any of their deliveries (a delivery whose contact was deleted since
counts as a person of its own, by its name snapshot). "Received" (acknowledged without saying
safe or not) is a status of its own and is never counted as safe.

Three queries whatever the number of recipients: the deliveries, the group memberships, and
nothing else (the alert is given).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from modules.sos.answers import (
    LABELS,
    STATUS_ORDER,
    TONES,
    AckKind,
    Status,
    alert_ack_kind,
    counted_statuses,
    live_poll_ms,
)
from modules.sos.models import Alert, Delivery, Group, osm_url
from portal.errors import PortalError
from portal.ids import parse_id

Q_MAX = 200
DELIVERY_FIELDS = (
    "id",
    "contact_id",
    "contact_name",
    "kind",
    "state",
    "answer",
    "acknowledged_at",
    "last_answer",
    "answered_at",
    "answer_via",
    "answer_note",
    "answer_latitude",
    "answer_longitude",
    "answer_accuracy_m",
    "answered_late",
)


@dataclass
class Person:
    key: str
    contact_id: int | None
    name: str
    status: str = Status.NO_ANSWER
    status_label: str = ""
    tone: str = ""
    answered_at: datetime | None = None
    channel: str = ""  # the delivery (email, sms...) whose link or message was answered
    via: str = ""  # how the answer came: link, sms or email
    note: str = ""
    latitude: float | None = None
    longitude: float | None = None
    accuracy_m: float | None = None
    late: bool = False
    groups: list[str] = field(default_factory=list)
    deliveries: list[dict[str, str]] = field(default_factory=list)  # kind and state of each

    @property
    def has_location(self) -> bool:
        return self.latitude is not None and self.longitude is not None

    @property
    def map_url(self) -> str:
        if self.latitude is None or self.longitude is None:
            return ""
        return osm_url(self.latitude, self.longitude)


@dataclass
class RollCall:
    alert: Alert
    kind: AckKind
    people: list[Person]  # after the filters, need attention first
    total: int  # people before the filters
    counts: list[dict[str, Any]]  # status, label, count, tone; over everyone
    need_help: list[Person]  # over everyone, whatever the filters
    groups: list[tuple[int, str]]
    poll_ms: int  # 0: the page stops refreshing (the alert closed and links expired)
    closed: bool

    @property
    def live(self) -> bool:
        return self.poll_ms > 0


def roll_call_filters(
    *, status: str = "", group: str = "", q: str = "", lenient: bool = False
) -> dict[str, Any]:
    """The filters of alert_roll_call from text (the page's and the API's query string):
    status, group (an id or a name), q (name or note).

    Strict (the API): an unknown status or a NUL byte is a PortalError (400
    validation_error); a group no group has matches nobody. Lenient (the page, whose links
    people edit by hand): what cannot match is dropped and the page shows everyone.
    """
    if any("\x00" in value for value in (status, group, q)):
        if not lenient:
            raise PortalError(
                "A roll-call filter contains a NUL byte.", code="validation_error", status=400
            )
        status, group, q = (value.replace("\x00", "") for value in (status, group, q))
    if status and status not in STATUS_ORDER:
        if not lenient:
            raise PortalError(
                f"status must be one of {', '.join(STATUS_ORDER)}.",
                code="validation_error",
                status=400,
                details={"fields": {"status": ["Not a roll-call status."]}},
            )
        status = ""
    group = group.strip()
    group_id: int | None = None
    if group:
        if group.isdecimal():
            group_id = parse_id(group)
        else:
            group_id = Group.objects.filter(name=group).values_list("pk", flat=True).first()
        if group_id is None and not lenient:
            group_id = 0  # no group has it: nobody matches
    return {"status": status, "group": group_id, "q": q[:Q_MAX]}


def _answer_of(row: dict[str, Any]) -> tuple[str, datetime | None]:
    # Rows answered before the latest-answer fields existed carry only the first answer.
    if row["last_answer"]:
        return row["last_answer"], row["answered_at"] or row["acknowledged_at"]
    return row["answer"], row["acknowledged_at"]


def alert_roll_call(
    *,
    alert: Alert,
    status: str = "",
    group: int | None = None,
    q: str = "",
    now: datetime | None = None,
) -> RollCall:
    """The roll-call of `alert`, filtered by status, group id and a text in name or note."""
    kind = alert_ack_kind(alert)
    labels = LABELS[kind]
    people: dict[str, Person] = {}
    latest: dict[str, tuple[datetime, int]] = {}
    rows = Delivery.objects.filter(alert=alert).order_by("id").values(*DELIVERY_FIELDS)
    for row in rows:
        key = f"c{row['contact_id']}" if row["contact_id"] else f"d{row['id']}"
        person = people.get(key)
        if person is None:
            person = people[key] = Person(key, row["contact_id"], row["contact_name"])
        person.deliveries.append({"kind": row["kind"], "state": row["state"]})
        answer, at = _answer_of(row)
        if not answer or at is None:
            continue
        rank = (at, -STATUS_ORDER.index(answer))  # same instant: the more urgent one
        if key in latest and latest[key] >= rank:
            continue
        latest[key] = rank
        person.status, person.answered_at = answer, at
        person.channel, person.via = row["kind"], row["answer_via"] or "link"
        person.note = row["answer_note"]
        person.latitude, person.longitude = row["answer_latitude"], row["answer_longitude"]
        person.accuracy_m = row["answer_accuracy_m"]
        person.late = row["answered_late"]

    memberships = (
        Group.members.through.objects.filter(contact__deliveries__alert=alert)
        .values_list("contact_id", "group_id", "group__name")
        .distinct()
    )
    group_ids: dict[str, set[int]] = {}
    group_names: dict[int, str] = {}
    for contact_id, group_id, name in memberships:
        person = people.get(f"c{contact_id}")
        if person is not None and name not in person.groups:
            person.groups.append(name)
            group_ids.setdefault(person.key, set()).add(group_id)
        group_names[group_id] = name

    everyone = sorted(
        people.values(), key=lambda p: (STATUS_ORDER.index(p.status), p.name.casefold(), p.key)
    )
    tally = dict.fromkeys(STATUS_ORDER, 0)
    for person in everyone:
        person.status_label = labels[Status(person.status)]
        person.tone = TONES[Status(person.status)]
        person.groups.sort(key=str.casefold)
        tally[person.status] += 1
    shown = counted_statuses(alert, tally)
    counts = [
        {"status": s.value, "label": labels[s], "count": tally[s], "tone": TONES[s]} for s in shown
    ]
    needle = q.strip().casefold()
    filtered = [
        p
        for p in everyone
        if (not status or p.status == status)
        and (group is None or group in group_ids.get(p.key, ()))
        and (not needle or needle in p.name.casefold() or needle in p.note.casefold())
    ]
    return RollCall(
        alert=alert,
        kind=kind,
        people=filtered,
        total=len(everyone),
        counts=counts,
        need_help=[p for p in everyone if p.status == Status.NEED_HELP],
        groups=sorted(group_names.items(), key=lambda g: g[1].casefold()),
        poll_ms=live_poll_ms(alert, now or timezone.now()),
        closed=alert.status != Alert.Status.OPEN,
    )


# Spreadsheets run a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_HEADER = [
    "name",
    "status",
    "status_label",
    "answered_at",
    "answered_after_close",
    "answered_on_channel",
    "answered_via",
    "note",
    "latitude",
    "longitude",
    "accuracy_m",
    "map_url",
    "groups",
    "deliveries",
]


def spreadsheet_safe(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading apostrophe; numbers stay."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def roll_call_csv_rows(roll_call: RollCall) -> list[list[Any]]:
    """The CSV export: a header, then one row per person (the filtered list)."""
    rows: list[list[Any]] = [CSV_HEADER]
    for p in roll_call.people:
        values = [
            p.name,
            p.status,
            p.status_label,
            p.answered_at.isoformat() if p.answered_at else "",
            "yes" if p.late else "no",
            p.channel,
            p.via if p.answered_at else "",
            p.note,
            "" if p.latitude is None else p.latitude,
            "" if p.longitude is None else p.longitude,
            "" if p.accuracy_m is None else p.accuracy_m,
            p.map_url,
            "; ".join(p.groups),
            "; ".join(f"{d['kind']}:{d['state']}" for d in p.deliveries),
        ]
        rows.append([spreadsheet_safe(v) for v in values])
    return rows


def roll_call_csv(roll_call: RollCall) -> bytes:
    """UTF-8 with a byte-order mark, so spreadsheet programs read accented names right."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(roll_call_csv_rows(roll_call))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def roll_call_filename(roll_call: RollCall) -> str:
    return f"alert-{roll_call.alert.pk}-roll-call.csv"
