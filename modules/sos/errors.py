"""Errors the module's workflows raise: PortalErrors, each with a stable code and a status."""

from __future__ import annotations

from portal.errors import PortalError


class SosError(PortalError):
    code = "sos_error"
    status = 400


class InvalidAlert(SosError):
    code = "validation_error"


class UnknownRecipient(SosError):
    code = "unknown_recipient"


class NoRecipients(SosError):
    code = "no_recipients"
    status = 422


class IdempotencyConflict(SosError):
    code = "idempotency_key_reused"
    status = 422


class AlertClosed(SosError):
    code = "alert_closed"
    status = 409


class InvalidAddress(SosError):
    code = "invalid_address"


class DuplicateMethod(InvalidAddress):
    """The contact already has this address."""


class InvalidContact(SosError):
    """A contact or group name or field the model cannot hold, or a name already taken."""

    code = "validation_error"


class AppriseNotAllowed(SosError):
    code = "permission_denied"
    status = 403


class NotRetryable(SosError):
    code = "not_retryable"
    status = 409


class AckLinkInvalid(SosError):
    code = "ack_link_invalid"

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message, details={"expired": expired})
        self.expired = expired


class CsvInvalid(SosError):
    code = "csv_invalid"


class InvalidIntegration(SosError):
    code = "validation_error"


class RecipientOptedOut(SosError):
    """The number texted STOP: carriers forbid sending to it until it texts START."""

    code = "recipient_opted_out"
    status = 409


class ChannelBusy(SosError):
    """A test send found its channel's rate budget taken (a fan-out is going out): not sent."""

    code = "channel_busy"
    status = 503

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message, details={"retry_after_s": retry_after_s})
