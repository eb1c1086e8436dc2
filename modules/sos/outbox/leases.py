"""How much lease a claimed delivery needs: the queue wait, one send, and writing the outcome.

A pass claims up to `claim_rounds()` sends per worker at once. The last of them starts only
after the sends queued before it, so the lease must cover those rounds, one more send, and the
write-back of the outcome. A send thread checks the lease once more just before it sends: a row
whose lease no longer covers a whole send is handed back unsent, since another worker may take
it over once the lease runs out, and the same message must not go out twice.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MAX_CLAIM_ROUNDS = 4
# Slack on each side of a send: from the claim to the send's start (the claim query itself,
# a busy pool), and from its end to the outcome being written (the flush interval, a lock).
SEND_MARGIN_S = 1.0


def send_timeout_s() -> float:
    """The longest one send may take: SOS_SEND_TIMEOUT_S, or EMAIL_TIMEOUT for SMTP mail."""
    timeout = float(settings.SOS_SEND_TIMEOUT_S)
    backend = settings.SOS_EMAIL_BACKEND
    if backend == "default":
        backend = "smtp" if settings.EMAIL_BACKEND.endswith("smtp.EmailBackend") else ""
    if backend == "smtp" and settings.EMAIL_TIMEOUT:
        timeout = max(timeout, float(settings.EMAIL_TIMEOUT))
    return timeout


def check_lease_settings() -> None:
    """Raises ImproperlyConfigured when SOS_LEASE_S cannot cover a single send, or a send's
    wait for its rate budget (governor.py) within the lease."""
    lease, timeout = float(settings.SOS_LEASE_S), send_timeout_s()
    if lease < timeout + 2 * SEND_MARGIN_S:
        raise ImproperlyConfigured(
            f"SOS_LEASE_S ({lease:g} s) must be at least the send timeout ({timeout:g} s, "
            f"SOS_SEND_TIMEOUT_S or EMAIL_TIMEOUT for SMTP) plus {2 * SEND_MARGIN_S:g} s; "
            "otherwise a slow send outlives its lease and may be sent twice."
        )
    window = lease - min_lease_s() - SEND_MARGIN_S
    for name, cost, cost_name in _RATED_SENDS:
        rate = float(getattr(settings, name))
        tokens = float(getattr(settings, cost_name)) if cost_name else 1.0
        if rate > 0 and tokens / rate > window:
            # The governor would hand such a send back on every claim: never sent, never failed.
            raise ImproperlyConfigured(
                f"{name} ({rate:g}/s) is too low for SOS_LEASE_S ({lease:g} s): one "
                f"{cost}{f' ({cost_name} = {tokens:g})' if cost_name else ''} waits "
                f"{tokens / rate:g} s for its turn, but the lease leaves {window:g} s to wait "
                "(SOS_LEASE_S less the send timeout and 2 s). Raise the rate or SOS_LEASE_S."
            )


# Rate setting, what one send costs, and the setting that bounds that cost (SMS segments).
_RATED_SENDS = (
    ("SOS_RATE_SMS", "SMS of SOS_SMS_MAX_SEGMENTS segments", "SOS_SMS_MAX_SEGMENTS"),
    ("SOS_RATE_EMAIL", "email", ""),
    ("SOS_RATE_WEBHOOK", "webhook", ""),
    ("SOS_RATE_APPRISE", "Apprise notification", ""),
)


def claim_rounds(*, lease_s: float, timeout_s: float) -> int:
    """How many sends per worker one claim may take so that the last still fits the lease."""
    usable = lease_s - 2 * SEND_MARGIN_S
    return max(1, min(MAX_CLAIM_ROUNDS, int(usable // timeout_s)))


def min_lease_s() -> float:
    """The lease a send thread needs left before it starts a send."""
    return send_timeout_s() + SEND_MARGIN_S


def lease_covers_send(lease_until: datetime | None, now: datetime, needed_s: float) -> bool:
    if lease_until is None:
        return True
    return (lease_until - now).total_seconds() >= needed_s
