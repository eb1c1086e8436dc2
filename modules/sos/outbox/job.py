"""One claimed delivery, copied out of the database so a send thread needs no connection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Job:
    delivery_id: int
    lease_token: str
    attempt: int
    round: int
    kind: str
    address: str
    secret: str
    contact_name: str
    method_id: int | None
    escalation: bool
    alert_id: int
    message: str
    severity: str
    is_test: bool
    require_ack: bool
    source: str
    raised_at: datetime
    latitude: float | None
    longitude: float | None
    accuracy_m: float | None
    refuse: str = ""  # set when the row must fail without a send (method deleted or disabled)
    lease_until: datetime | None = None  # the send must not start unless the lease covers it

    @property
    def idempotency_key(self) -> str:
        # Same key on every retry of one send; a reminder is a new send with a new key.
        return f"sos-{self.delivery_id}-{self.round}"
