"""One claimed delivery, copied out of the database so a send thread needs no connection."""

from __future__ import annotations

import hashlib
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

    @property
    def mail_id(self) -> str:
        """The left part of this send's Message-ID: the same on every retry of one send, new
        for a reminder (a new message). The digest of the alert's creation time keeps it
        unique across databases whose delivery ids start again from 1 (a restored backup, a
        second installation): mail software drops a message whose Message-ID it has seen."""
        seed = f"{self.alert_id}:{self.delivery_id}:{self.round}:{self.raised_at.isoformat()}"
        digest = hashlib.sha256(seed.encode()).hexdigest()[:16]
        return f"{self.idempotency_key}.{digest}"
