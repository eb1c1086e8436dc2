"""Errors of the inbound webhooks: stable codes, never a 500 for what a caller sent."""

from __future__ import annotations

from modules.sos.errors import SosError


class SignatureInvalid(SosError):
    """The SNS message signature or X-Twilio-Signature does not verify."""

    code = "signature_invalid"
    status = 403


class TopicNotAllowed(SosError):
    """An SNS message from a topic not listed in SOS_SNS_TOPIC_ARNS."""

    code = "sns_topic_not_allowed"
    status = 403


class InboundNotConfigured(SosError):
    """The endpoint's credential (SOS_TWILIO_AUTH_TOKEN, SOS_SNS_TOPIC_ARNS) is not set."""

    code = "inbound_not_configured"
    status = 403


class InboundInvalid(SosError):
    """Not an SNS message / Twilio post / inbound SMS or email notification we can read."""

    code = "inbound_invalid"
    status = 400


class SnsTimestampInvalid(SosError):
    """An SNS message published more than an hour ago or more than 5 minutes ahead of our
    clock (or with no readable Timestamp): a replay of a captured message, not SNS."""

    code = "sns_timestamp_invalid"
    status = 400


class SnsUnavailable(SosError):
    """SNS could not be reached (signing certificate, SubscribeURL): SNS sends the message
    again later."""

    code = "sns_unavailable"
    status = 503

    def __init__(self, message: str) -> None:
        super().__init__(message, details={"retry_after_s": 30})
