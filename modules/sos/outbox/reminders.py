"""Reminders and the `escalate_to` group are an escalation plan now, run by the one runner
(outbox/escalation.py; the plan is in escalation_state.py). This name stays for its callers."""

from __future__ import annotations

from modules.sos.outbox.escalation import alerts_escalate_due as alerts_remind_due
from modules.sos.outbox.escalation import resend_delivered

__all__ = ["alerts_remind_due", "resend_delivered"]
