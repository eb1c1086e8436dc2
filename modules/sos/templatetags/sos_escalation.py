"""The escalation progress of an alert for its page: `{% escalation_progress alert as esc %}`."""

from __future__ import annotations

from typing import Any

from django import template

from modules.sos.models import Alert, AlertEvent

register = template.Library()


@register.simple_tag
def escalation_progress(alert: Alert) -> dict[str, Any] | None:
    """What the API detail's `escalation` says (api_escalation.py), or None without a policy,
    with the page's words: `rule` (the stop rule in words) and `stopped_by` (why it stopped:
    the stop rule, or the reason an acknowledgement of the whole alert gave)."""
    from modules.sos.api_escalation import EscalationProgressSerializer
    from modules.sos.escalation_state import current_step, rule_text

    progress = EscalationProgressSerializer.of(alert)
    if progress is None:
        return None
    step = current_step(alert)
    words = {**progress, "rule": rule_text(step) if step else ""}
    if progress["status"] == "satisfied":
        stop = (
            AlertEvent.objects.filter(
                alert=alert, kind=AlertEvent.Kind.ESCALATED, data__stopped=True
            )
            .order_by("-id")
            .values_list("data", flat=True)
            .first()
        ) or {}
        reason = stop.get("reason") if isinstance(stop, dict) else ""
        words["stopped_by"] = reason or f"its stop rule ({words['rule']}) was met"
    return words
