"""Operator UI for alerts, the dashboard card, and the public acknowledgement page.

Contacts and groups pages are in views_contacts.py. Views are thin: they call services.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from modules.sos import services
from modules.sos.acks import clean_note
from modules.sos.alert_page import (
    alert_tally,
    answer_counts,
    delivery_bar,
    event_rows,
    live_version,
    tally_bar,
    tally_counts,
)
from modules.sos.answers import LIVE_POLL_MS, NOTE_MAX, alert_ack_kind, live_poll_ms
from modules.sos.errors import AckLinkInvalid, SosError
from modules.sos.forms import AlertForm
from modules.sos.models import Alert, Delivery
from modules.sos.outbox.wake import wake
from modules.sos.preflight import channel_warnings
from modules.sos.selectors import (
    STATES,
    alert_counts,
    alert_resent,
    with_counts,
    without_send_tests,
)
from modules.sos.views_ack import ack_form_location, ack_page_context
from portal.clients import client_ip
from portal.counters import count_hit
from portal.error_pages import error_page
from portal.roles import is_operator, operator_required, viewer_required

State = Delivery.State
DELIVERY_ROWS = 500
EVENT_ROWS = 100
ACK_RATE_LIMIT = 30  # answers per client address per window on the public ack page
ACK_RATE_WINDOW_S = 60


def _stat(label: str, value: int, tone: str) -> dict[str, Any]:
    return {"label": label, "value": value, "tone": tone if value else ""}


def card_context(request: HttpRequest) -> dict[str, Any]:
    day_ago = timezone.now() - timedelta(hours=24)
    totals = Delivery.objects.filter(alert__status=Alert.Status.OPEN).aggregate(
        pending=Count("id", filter=Q(state__in=[State.PENDING, State.SENDING])),
        failed=Count("id", filter=Q(state=State.FAILED, updated_at__gte=day_ago)),
        unacked=Count("id", filter=Q(state=State.SENT, alert__require_ack=True)),
        # The latest answer: someone who said "safe" and then "I need help" needs help.
        need_help=Count(
            "id",
            filter=Q(last_answer=Delivery.Answer.NEED_HELP)
            | Q(last_answer="", answer=Delivery.Answer.NEED_HELP),
        ),
    )
    recent = list(Alert.objects.filter(is_test=False).order_by("-created_at")[:4])
    open_alerts = Alert.objects.filter(
        status=Alert.Status.OPEN, is_test=False, created_at__gte=day_ago
    ).count()
    if totals["need_help"] or totals["failed"]:
        status = "down"
    elif totals["pending"] or totals["unacked"]:
        status = "warn"
    elif recent:
        status = "ok"
    else:
        status = "idle"
    stats = [
        _stat("Open alerts (24 h)", open_alerts, "warn"),
        _stat("Going out", totals["pending"], ""),
        _stat("Failed (24 h)", totals["failed"], "down"),
        _stat("Unacknowledged", totals["unacked"], "warn"),
    ]
    if totals["need_help"]:
        stats.append(_stat("Need help", totals["need_help"], "down"))
    rows = [
        {
            "badge": a.severity if a.status == Alert.Status.OPEN else a.status,
            "tone": a.severity if a.status == Alert.Status.OPEN else "idle",
            "text": a.message,
            "when": a.created_at,
        }
        for a in recent
    ]
    return {"status": status, "stats": stats, "rows": rows, "empty": "No alert raised yet."}


def _alert_form(request: HttpRequest) -> AlertForm:
    return AlertForm(
        request.POST or None,
        initial={
            "reminder_interval_min": settings.SOS_REMINDER_INTERVAL_MIN,
            "reminder_max": settings.SOS_REMINDER_MAX,
        },
    )


@viewer_required
def index(request: HttpRequest) -> HttpResponse:
    form = _alert_form(request)
    preview = None
    warnings: list[Any] = []
    if request.method == "POST":
        if not is_operator(request.user):
            return render(request, "errors/403.html", status=403)
        if form.is_valid():
            data = form.cleaned_data
            fields: dict[str, Any] = {
                "message": data["message"],
                "severity": data["severity"],
                "groups": list(data["groups"]),
                "contacts": list(data["contacts"]),
                "channels": data["channels"] or None,
                "location": form.location(),
                "require_ack": data["require_ack"],
                "reminder_interval_min": data["reminder_interval_min"],
                "reminder_max": data["reminder_max"],
                "escalate_to": data["escalate_to"],
                "escalation_policy": data["escalation_policy"],
                "raised_by": request.user,
                "source": "ui",
            }
            # The form shows the default reminder values: they are the alert's own only when
            # changed (or with "Then escalate to"); otherwise the groups' default policy, if
            # any, applies, as it does to an API alert that names none.
            own = data["escalate_to"] is not None or bool(
                {"reminder_interval_min", "reminder_max"} & set(form.changed_data)
            )
            if data["escalation_policy"] or not own:
                fields.update(reminder_interval_min=None, reminder_max=None)
            try:
                if "preview" in request.POST:
                    preview = services.alert_preview(**fields).recipients
                    warnings = channel_warnings({r.method.kind for r in preview})
                else:
                    alert = services.alert_raise(
                        **fields, idempotency_key=request.POST.get("form_key") or None
                    ).alert
                    messages.success(request, f"Alert #{alert.pk} raised.")
                    return redirect("sos:alert", pk=alert.pk)
            except SosError as exc:
                form.add_error(None, exc.message)
    # A contact method's "Send test" writes a closed test alert as its audit trail: it is
    # not an alert anyone raised, so the list leaves it out (the API lists it, marked test).
    # An alert raised with `test: true` really sends: it is listed, marked test.
    recent = with_counts(without_send_tests(Alert.objects.select_related("raised_by")))
    alerts = Paginator(recent.order_by("-created_at", "-id"), 25).get_page(request.GET.get("page"))
    for alert in alerts:
        need_help = {Delivery.Answer.NEED_HELP: alert.h_need_help}  # type: ignore[attr-defined]
        bar = delivery_bar(alert_counts(alert), need_help, alert_resent(alert))
        alert.bar = bar  # type: ignore[attr-defined]
    return render(
        request,
        "sos/index.html",
        {
            "form": form,
            "alerts": alerts,
            "preview": preview,
            "warnings": warnings,
            "form_key": _form_key(),
        },
    )


def _form_key() -> str:
    # A double-submitted raise form (double click, resubmit) creates one alert, not two.
    import secrets

    return secrets.token_urlsafe(16)


def _live_context(alert: Alert, tally: dict[str, Any] | None = None) -> dict[str, Any]:
    tally = tally if tally is not None else alert_tally(alert)
    counts = tally_counts(tally)
    kind = alert_ack_kind(alert)
    bar = tally_bar(tally, kind)
    poll_ms = live_poll_ms(alert, timezone.now())
    if not bar.finished:
        poll_ms = LIVE_POLL_MS  # sends in flight (after a cancel too) still finish
    deliveries = list(alert.deliveries.order_by("id")[:DELIVERY_ROWS])
    answers = answer_counts(alert, tally)
    return {
        "alert": alert,
        "events": event_rows(alert, EVENT_ROWS),
        "counts": [(s, counts[s]) for s in STATES],
        "ack_kind": kind,
        # Only the answers of the alert's kind: "on it" on an incident, "safe" on a safety check.
        "answers": answers,
        "answered": any(a.count for a in answers),
        "late": tally["late"],
        "bar": bar,
        # Answers keep coming after the last send, and after the close while the links still
        # take late ones (as the roll-call): fast while open or sending, slower after.
        "poll_ms": poll_ms,
        "live": poll_ms > 0,
        "deliveries": deliveries,
        "more": bar.total - len(deliveries),
    }


@viewer_required
def alert_detail(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert.objects.select_related("raised_by", "escalate_to"), pk=pk)
    if settings.SOS_WAKE == "thread" and alert.status == Alert.Status.OPEN:
        wake()  # picks up rows left by a restarted dev server; no-op when nothing is due
    tally = alert_tally(alert)
    can_act = is_operator(request.user)
    kinds = alert.deliveries.order_by().values_list("kind", flat=True).distinct()
    context = {
        **_live_context(alert, tally),
        "can_act": can_act,
        "version": live_version(alert, tally, can_act),
        "warnings": channel_warnings(kinds) if alert.status == Alert.Status.OPEN else [],
    }
    return render(request, "sos/alert.html", context)


@never_cache
def alert_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The live part of the alert page; 204 when nothing changed since the version it sent."""
    if not request.user.is_authenticated:
        return HttpResponseClientRefresh()  # the reloaded page goes to the login form
    return _alert_live(request, pk)


@viewer_required
def _alert_live(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert.objects.select_related("raised_by", "escalate_to"), pk=pk)
    tally = alert_tally(alert)
    can_act = is_operator(request.user)
    version = live_version(alert, tally, can_act)
    if request.GET.get("v") == version:
        return HttpResponse(status=204)  # htmx leaves the page alone and keeps polling
    context = {**_live_context(alert, tally), "can_act": can_act, "version": version}
    return render(request, "sos/_live.html", context)


@require_POST
@operator_required
def alert_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=pk)
    try:
        stopped = services.alert_cancel(alert=alert, by=request.user)
        messages.success(request, f"Alert cancelled: {stopped} deliveries will not be sent.")
    except SosError as exc:
        messages.error(request, exc.message)
    return redirect("sos:alert", pk=pk)


@require_POST
@operator_required
def alert_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=pk)
    try:
        services.alert_resolve(alert=alert, by=request.user)
        messages.success(request, "Alert resolved.")
    except SosError as exc:
        messages.error(request, exc.message)
    return redirect("sos:alert", pk=pk)


@require_POST
@operator_required
def delivery_retry(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = get_object_or_404(Delivery, pk=pk)
    try:
        services.delivery_retry(delivery=delivery, by=request.user)
        messages.success(request, f"Sending to {delivery.contact_name} again.")
    except SosError as exc:
        messages.error(request, exc.message)
    return redirect("sos:alert", pk=delivery.alert_id)


def _ack_throttled(request: HttpRequest) -> bool:
    """Count an answer from this client address; True past ACK_RATE_LIMIT in the window."""
    return count_hit(f"sos-ack:ip:{client_ip(request)}", ACK_RATE_WINDOW_S) > ACK_RATE_LIMIT


# Public: no login. The signed token is the credential (a forger cannot know it), so the form
# also works from a mail client's preview or a chat app's browser without a CSRF cookie.
@csrf_exempt
def ack(request: HttpRequest, token: str) -> HttpResponse:
    try:
        delivery = services.delivery_from_ack_token(token=token)
    except AckLinkInvalid as exc:
        return error_page(request, exc, "sos/ack_invalid.html", {"expired": exc.expired})
    result = None
    # A first answer is never throttled: a whole building may answer through one NAT address.
    answered = delivery.last_answer or delivery.answer
    if request.method == "POST" and _ack_throttled(request) and answered:
        response = render(
            request,
            "sos/ack_invalid.html",
            {
                "title": "Please wait a moment",
                "message": "Too many answers from your network in a short time; your first "
                "answer was recorded. Try again in a minute.",
            },
            status=429,
        )
        response["Retry-After"] = str(ACK_RATE_WINDOW_S)
        response["Cache-Control"] = "no-store"
        return response
    location, location_refused = ack_form_location(request)
    if request.method == "POST":
        try:
            result = services.delivery_answer(
                delivery=delivery,
                answer=request.POST.get("answer", ""),
                # Cut, not refused: an answer in an emergency must not bounce on its length.
                note=clean_note(request.POST.get("note", ""))[:NOTE_MAX],
                location=location,
                via="link",
                remote_addr=client_ip(request),
                user_agent=request.headers.get("User-Agent", ""),
            )
        except SosError as exc:
            return error_page(request, exc, "sos/ack_invalid.html", {"message": exc.message})
        delivery = result.delivery
    response = render(
        request,
        "sos/ack.html",
        ack_page_context(delivery, result=result, location_refused=location_refused),
    )
    response["Referrer-Policy"] = "no-referrer"  # the token must not leak to the map site
    response["Cache-Control"] = "no-store"
    return response
