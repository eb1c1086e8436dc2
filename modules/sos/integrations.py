"""Events API v2 intake: integrations (a routing key, who it pages, how its message reads) and
the events tools post with them, under PagerDuty's de-duplication rules.

- trigger: an open alert of the same (integration, dedup_key) absorbs it (counted); otherwise a
  new alert is raised through alert_raise, so it fans out like any other alert.
- acknowledge: someone is on it; reminders and policy escalation of that alert stop, and the
  event log says who (the sending tool) acknowledged.
- resolve: the alert is resolved (pending sends cancelled).
- acknowledge / resolve without an open alert for the key are dropped, as PagerDuty does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from modules.sos.errors import AlertClosed, InvalidIntegration, NoRecipients, SosError
from modules.sos.integration_models import (
    DEFAULT_SEVERITY_MAP,
    NAME_MAX,
    Integration,
    IntegrationAlert,
    new_routing_key,
)
from modules.sos.integration_templates import (  # noqa: F401 - re-exported
    ALLOWED_FILTERS,
    ALLOWED_TAGS,
    message_render,
    template_check,
)
from modules.sos.models import Alert, AlertEvent, Group, Severity
from modules.sos.raising import alert_raise

EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")


# --- integrations -----------------------------------------------------------------------------


def _checked(
    *, name: str | None, severity_map: dict[str, str] | None, message_template: str | None
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if name is not None:
        name = name.strip()
        if not name or len(name) > NAME_MAX or "\x00" in name:
            raise InvalidIntegration(
                f"The name must be 1 to {NAME_MAX} characters.", details={"field": "name"}
            )
        fields["name"] = name
    if severity_map is not None:
        if not isinstance(severity_map, dict):
            raise InvalidIntegration(
                "severity_map maps PagerDuty severities to alert severities.",
                details={"field": "severity_map"},
            )
        unknown = sorted(set(severity_map) - set(DEFAULT_SEVERITY_MAP))
        wrong = sorted(k for k, v in severity_map.items() if v not in Severity.values)
        if unknown or wrong:
            raise InvalidIntegration(
                "severity_map keys are critical, error, warning, info; values are "
                "critical, warning, info.",
                details={"field": "severity_map", "unknown": unknown, "invalid": wrong},
            )
        fields["severity_map"] = {**DEFAULT_SEVERITY_MAP, **severity_map}
    if message_template is not None:
        fields["message_template"] = template_check(message_template)
    return fields


def _name_taken(name: str) -> InvalidIntegration:
    return InvalidIntegration(
        f"An integration named {name!r} already exists.", details={"field": "name"}
    )


def _name_free(name: str, pk: int | None) -> None:
    if Integration.objects.filter(name__iexact=name).exclude(pk=pk).exists():
        raise _name_taken(name)


@transaction.atomic
def integration_create(
    *,
    name: str,
    groups: list[Group] | tuple[Group, ...] = (),
    escalation_policy: Any = None,
    message_template: str | None = None,
    severity_map: dict[str, str] | None = None,
    require_ack: bool = False,
    enabled: bool = True,
    created_by: AbstractBaseUser | None = None,
) -> Integration:
    fields = _checked(name=name, severity_map=severity_map, message_template=message_template)
    _name_free(fields["name"], None)
    try:
        with transaction.atomic():
            integration = Integration.objects.create(
                escalation_policy=escalation_policy,
                require_ack=require_ack,
                enabled=enabled,
                created_by=created_by,
                **fields,
            )
    except IntegrityError:  # a concurrent create took the name after the check above
        raise _name_taken(fields["name"]) from None
    integration.groups.set(groups)
    return integration


@transaction.atomic
def integration_update(*, integration: Integration, **changes: Any) -> Integration:
    """Change what is given; `groups` replaces the groups."""
    groups = changes.pop("groups", None)
    checked = _checked(
        name=changes.pop("name", None),
        severity_map=changes.pop("severity_map", None),
        message_template=changes.pop("message_template", None),
    )
    if "name" in checked:
        _name_free(checked["name"], integration.pk)
    for field, value in {**changes, **checked}.items():
        setattr(integration, field, value)
    try:
        with transaction.atomic():
            integration.save()
    except IntegrityError:
        raise _name_taken(integration.name) from None
    if groups is not None:
        integration.groups.set(groups)
    return integration


def integration_rotate_key(*, integration: Integration) -> Integration:
    """A new routing key; the old one stops working at once."""
    integration.routing_key = new_routing_key()
    integration.save(update_fields=["routing_key"])
    return integration


# --- events -----------------------------------------------------------------------------------


class EventRejected(Exception):
    """The event cannot be processed. Not a PortalError: the enqueue endpoint answers it in
    PagerDuty's words (400 "invalid event" with these `errors`), not in the portal's envelope."""

    def __init__(self, *errors: str) -> None:
        super().__init__("; ".join(errors))
        self.errors = list(errors)


@dataclass(frozen=True)
class EventOutcome:
    dedup_key: str
    action: str  # triggered, deduplicated, acknowledged, resolved, dropped
    alert: Alert | None = None


def integration_for_key(routing_key: str) -> Integration:
    integration = Integration.objects.filter(routing_key=routing_key).first()
    if integration is None:
        raise EventRejected("Invalid routing key: no integration has this key")
    if not integration.enabled:
        raise EventRejected(f"The integration {integration.name!r} is disabled")
    return integration


def _open_link(integration: Integration, dedup_key: str) -> IntegrationAlert | None:
    link = (
        IntegrationAlert.objects.select_related("alert")
        .filter(integration=integration, dedup_key=dedup_key, alert__status=Alert.Status.OPEN)
        .order_by("-id")
        .first()
    )
    if link is None:
        return None
    # Locked and read again: a resolve committed since the read above must not absorb this
    # event into a closed alert (the close takes the same row lock).
    status = (
        Alert.objects.select_for_update(no_key=True)
        .filter(pk=link.alert_id)
        .values_list("status", flat=True)
        .first()
    )
    return link if status == Alert.Status.OPEN else None


def event_enqueue(*, event: dict[str, Any], now: datetime | None = None) -> EventOutcome:
    """Apply one validated Events API v2 event (see the module docstring for the rules).
    Raises EventRejected for an unknown or disabled key, or an integration that reaches nobody.
    """
    now = now or timezone.now()
    action = event["event_action"]
    dedup_key = event.get("dedup_key") or ""
    if action == "trigger" and not dedup_key:
        dedup_key = uuid.uuid4().hex
    integration = integration_for_key(event["routing_key"])
    try:
        with transaction.atomic():
            # The row lock serialises one integration's events: two triggers of one key racing
            # open one alert, not two.
            integration = Integration.objects.select_for_update().get(pk=integration.pk)
            Integration.objects.filter(pk=integration.pk).update(last_event_at=now)
            link = _open_link(integration, dedup_key)
            if action == "trigger":
                return _trigger(integration, link, event, dedup_key, now)
            if link is None:
                return EventOutcome(dedup_key, "dropped")
            if action == "acknowledge":
                return _acknowledge(link, event, now)
            return _resolve(link, event, now)
    except SosError as exc:  # NoRecipients, or a policy alert_raise refuses
        # Remembered where operators look (the integration's last_error), and told the sender.
        Integration.objects.filter(pk=integration.pk).update(
            last_error=exc.message[:500], last_event_at=now
        )
        if isinstance(exc, NoRecipients):
            raise EventRejected(
                f"The integration {integration.name!r} reaches nobody: {exc.message}"
            ) from None
        raise EventRejected(f"The integration {integration.name!r}: {exc.message}") from None


def _client(event: dict[str, Any]) -> str:
    return str(event.get("client") or "Events API v2")[:100]


def _trigger(
    integration: Integration,
    link: IntegrationAlert | None,
    event: dict[str, Any],
    dedup_key: str,
    now: datetime,
) -> EventOutcome:
    payload = event["payload"]
    if link is not None:
        Alert.objects.filter(pk=link.alert_id).update(dedup_count=F("dedup_count") + 1)
        AlertEvent.objects.create(
            alert_id=link.alert_id,
            kind=AlertEvent.Kind.DEDUPLICATED,
            message=f"Triggered again by {_client(event)} with dedup key {dedup_key!r}"[:500],
            data={
                "source": integration.source,
                "summary": str(payload.get("summary", ""))[:200],
                "severity": payload.get("severity", ""),
            },
        )
        return EventOutcome(dedup_key, "deduplicated", link.alert)
    severity = {**DEFAULT_SEVERITY_MAP, **integration.severity_map}.get(
        payload["severity"], "critical"
    )
    groups: list[Any] = list(integration.groups.all())
    contacts: list[Any] = []
    policy = integration.escalation_policy
    first = policy.steps.order_by("order").first() if policy and not groups else None
    if first is not None:
        # A policy without groups pages its first step's targets at once, as PagerDuty
        # notifies the first level of a service's policy.
        groups, contacts = list(first.groups.all()), list(first.contacts.all())
    raised = alert_raise(
        message=message_render(integration.message_template, {**event, "dedup_key": dedup_key}),
        severity=severity,
        groups=groups,
        contacts=contacts,
        # The stored flag cannot tell "off" from "not set": off leaves the groups' policy on.
        require_ack=integration.require_ack or None,
        source=integration.source,
        now=now,
        escalation_policy=policy,
    )
    alert = raised.alert
    if first is not None:
        _first_wave_sent(alert, first, now)
    # The key lives on the link only: Alert.dedup_key is what alert_raise and alert_resolve
    # match from every source, so a sender's key there would absorb (or resolve) another
    # source's alert of the same key, e.g. a NetProbe monitor's.
    IntegrationAlert.objects.create(integration=integration, alert=alert, dedup_key=dedup_key)
    if integration.last_error:
        Integration.objects.filter(pk=integration.pk).update(last_error="")
    return EventOutcome(dedup_key, "triggered", alert)


def _first_wave_sent(alert: Alert, first: Any, now: datetime) -> None:
    """The raise was the first step's first wave: the runner goes on from its repeats (or the
    next step), so the first step's recipients are not paged twice."""
    from modules.sos.escalation_models import EscalationStatus

    steps = list(alert.escalation_policy.steps.order_by("order"))
    changes: dict[str, Any] = {"escalation_step": 1, "escalation_waves": 1}
    if first.repeat:
        changes["next_escalation_at"] = now + timedelta(minutes=first.delay_min)
    elif len(steps) > 1:
        changes.update(
            escalation_step=2,
            escalation_waves=0,
            next_escalation_at=now + timedelta(minutes=steps[1].delay_min),
        )
    else:
        changes.update(escalation_status=EscalationStatus.EXHAUSTED, next_escalation_at=None)
    Alert.objects.filter(pk=alert.pk).update(**changes)


def _acknowledge(link: IntegrationAlert, event: dict[str, Any], now: datetime) -> EventOutcome:
    if link.acknowledged_at is None:
        IntegrationAlert.objects.filter(pk=link.pk).update(acknowledged_at=now)
        from modules.sos.escalation import escalation_cancel

        # The alert row first, as the escalation runner and the close take it.
        Alert.objects.select_for_update(no_key=True).filter(pk=link.alert_id).first()
        # escalation_cancel stops a running policy (its reminders included); an alert with
        # plain reminders and no policy needs them stopped here.
        Alert.objects.filter(pk=link.alert_id).update(next_reminder_at=None)
        escalation_cancel(
            alert_id=link.alert_id, now=now, reason=f"acknowledged by {_client(event)} (Events API)"
        )
        AlertEvent.objects.create(
            alert_id=link.alert_id,
            kind=AlertEvent.Kind.ACKNOWLEDGED,
            message=f"Acknowledged by {_client(event)} (Events API): reminders and escalation "
            "stopped",
            data={"source": link.integration.source, "dedup_key": link.dedup_key},
        )
    return EventOutcome(link.dedup_key, "acknowledged", link.alert)


def _resolve(link: IntegrationAlert, event: dict[str, Any], now: datetime) -> EventOutcome:
    from modules.sos.services import alert_resolve

    try:
        alert_resolve(alert=link.alert, note=f"Resolved by {_client(event)} (Events API)", now=now)
    except AlertClosed:
        return EventOutcome(link.dedup_key, "dropped", link.alert)
    return EventOutcome(link.dedup_key, "resolved", link.alert)
