"""The confirmation SMS of a reply that came through Amazon SNS two-way messaging.

Twilio takes its confirmation in the webhook's answer (TwiML); SNS does not, so it is sent
with SNS Publish from the two-way number the person texted (AWS.MM.SMS.OriginationNumber).
Best effort, after the reply is recorded: a confirmation that cannot be sent is logged, the
answer stands.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from django.conf import settings

from modules.sos.channels.aws import aws_client
from modules.sos.channels.sms import fit_sms, normalize_phone

logger = logging.getLogger("modules.sos.inbound")
REPLY_SEGMENTS = 2


def sms_reply_send(*, to: str, text: str, origination: str = "") -> bool:
    """Publish `text` to `to`; True when SNS accepted it."""
    attributes: dict[str, Any] = {
        "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}
    }
    # Without a two-way number in the message, SNS picks the origination identity.
    with contextlib.suppress(ValueError):
        attributes["AWS.MM.SMS.OriginationNumber"] = {
            "DataType": "String",
            "StringValue": normalize_phone(origination),
        }
    client = None
    try:
        client = aws_client(
            "sns",
            region=settings.SOS_AWS_REGION,
            timeout=settings.SOS_SEND_TIMEOUT_S,
            endpoint_url=settings.AWS_ENDPOINT_URL,
        )
        client.publish(
            PhoneNumber=normalize_phone(to),
            Message=fit_sms(text, REPLY_SEGMENTS),
            MessageAttributes=attributes,
        )
        return True
    except Exception as exc:
        logger.warning("The confirmation SMS to a reply could not be sent: %s", exc)
        return False
    finally:
        if client is not None:
            client.close()
