"""Public webhooks of two-way replies: Amazon SNS (inbound SMS, SES inbound email) and
Twilio-shaped SMS posts. No login: the SNS message signature and X-Twilio-Signature are the
credentials. Not throttled per address: SNS and Twilio post from a few shared addresses, and
hundreds of people answering an alert within a minute must not be refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any
from xml.sax.saxutils import escape

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import parsers, serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from modules.sos.ack_links import public_base_url
from modules.sos.inbound import sns
from modules.sos.inbound.errors import (
    InboundInvalid,
    InboundNotConfigured,
    SignatureInvalid,
    TopicNotAllowed,
)
from modules.sos.inbound.mail import parse_mail
from modules.sos.inbound.replies import inbound_email_apply, inbound_sms_apply
from modules.sos.inbound.sms_reply import sms_reply_send
from modules.sos.inbound.twilio import twilio_signature_valid
from portal.schema import error_response

logger = logging.getLogger("modules.sos.inbound")

SnsAnswer = inline_serializer("SosInboundAnswer", {"status": serializers.CharField()})
SnsEnvelope = inline_serializer(
    "SosSnsMessage",
    {
        "Type": serializers.ChoiceField(choices=list(sns.SIGNED_FIELDS)),
        "MessageId": serializers.CharField(),
        "TopicArn": serializers.CharField(),
        "Message": serializers.CharField(),
        "Timestamp": serializers.CharField(),
        "SignatureVersion": serializers.ChoiceField(choices=["1", "2"]),
        "Signature": serializers.CharField(),
        "SigningCertURL": serializers.URLField(),
        "SubscribeURL": serializers.URLField(required=False),
        "Token": serializers.CharField(required=False),
        "Subject": serializers.CharField(required=False),
    },
)
TwilioPost = inline_serializer(
    "SosTwilioSms",
    {
        "MessageSid": serializers.CharField(),
        "From": serializers.CharField(),
        "To": serializers.CharField(),
        "Body": serializers.CharField(allow_blank=True),
    },
)


class _Webhook(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []


class SnsInboundView(_Webhook):
    """Amazon SNS HTTPS subscription: inbound SMS (AWS End User Messaging two-way SMS) and
    email replies (an SES receipt rule's SNS action, with the content), from the topics in
    SOS_SNS_TOPIC_ARNS. Subscription confirmations are confirmed."""

    parser_classes: list[Any] = []  # SNS posts JSON as text/plain: the raw body is read

    @extend_schema(
        request={"application/json": SnsEnvelope, "text/plain": SnsEnvelope},
        responses={
            200: SnsAnswer,
            400: error_response(
                "`inbound_invalid`: not an SNS message; `sns_timestamp_invalid`: published "
                "more than an hour ago or more than 5 minutes ahead (a replay)"
            ),
            403: error_response(
                "`signature_invalid`, `sns_topic_not_allowed` (a topic not in "
                "SOS_SNS_TOPIC_ARNS) or `inbound_not_configured` (no topic configured)"
            ),
            503: error_response(
                "`sns_unavailable`: the signing certificate or SubscribeURL could not be "
                "fetched (SNS sends again), or `database_unavailable`"
            ),
        },
    )
    def post(self, request: Request) -> Response:
        topics = settings.SOS_SNS_TOPIC_ARNS
        if not topics:
            raise InboundNotConfigured("No SNS topic is configured (SOS_SNS_TOPIC_ARNS).")
        message = sns.parse_envelope(request.body)
        if message.topic_arn not in topics:
            raise TopicNotAllowed("This SNS topic is not accepted here.")
        options = {
            "host_pattern": settings.SOS_SNS_CERT_HOST_PATTERN,
            "timeout": settings.SOS_SEND_TIMEOUT_S,
        }
        sns.verify_sns_message(message, **options)
        if message.type == sns.SUBSCRIBE:
            sns.confirm_subscription(message, **options)
            logger.info("Confirmed the SNS subscription to %s", message.topic_arn)
            return Response({"status": "subscribed"})
        if message.type == sns.UNSUBSCRIBE:
            logger.warning("SNS unsubscribed this endpoint from %s", message.topic_arn)
            return Response({"status": "unsubscribed"})
        return Response({"status": _apply_notification(message)})


def _apply_notification(message: sns.SnsMessage) -> str:
    try:
        payload = json.loads(message.message)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        logger.info("SNS message %s is not JSON: ignored", message.message_id)
        return "ignored"
    if payload.get("notificationType") == "Received":
        return _apply_email(message, payload)
    if "originationNumber" in payload and "messageBody" in payload:
        sender, body = payload["originationNumber"], payload["messageBody"]
        if not isinstance(sender, str) or not isinstance(body, str):
            raise InboundInvalid("originationNumber and messageBody must be strings.")
        inbound_id = payload.get("inboundMessageId")
        if not isinstance(inbound_id, str) or not inbound_id:
            inbound_id = message.message_id
        result = inbound_sms_apply(
            provider="sns-sms", message_id=inbound_id, sender=sender, body=body
        )
        if result.reply and not result.duplicate:
            origination = payload.get("destinationNumber")
            sms_reply_send(
                to=sender,
                text=result.reply,
                origination=origination if isinstance(origination, str) else "",
            )
        return "accepted"
    logger.info("SNS message %s is neither an SMS nor an email: ignored", message.message_id)
    return "ignored"


def _apply_email(message: sns.SnsMessage, payload: dict[str, Any]) -> str:
    content = payload.get("content")
    mail_meta = payload.get("mail") if isinstance(payload.get("mail"), dict) else {}
    receipt = payload.get("receipt") if isinstance(payload.get("receipt"), dict) else {}
    if not isinstance(content, str):
        # The receipt rule's action does not carry the message (S3 action, or too large).
        logger.warning("SES notification %s carries no content: ignored", message.message_id)
        return "ignored"
    action = receipt.get("action") if isinstance(receipt.get("action"), dict) else {}
    try:
        raw = (
            base64.b64decode(content, validate=True)
            if action.get("encoding") == "BASE64"
            else content.encode("utf-8", errors="replace")
        )
        recipients = [r for r in receipt.get("recipients") or [] if isinstance(r, str)]
        mail = parse_mail(raw, envelope_recipients=recipients)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InboundInvalid(f"The email in the SES notification is unreadable: {exc}") from None
    mail_id = mail_meta.get("messageId")
    inbound_email_apply(
        provider="ses",
        message_id=mail_id if isinstance(mail_id, str) and mail_id else message.message_id,
        mail=mail,
    )
    return "accepted"


def twiml(text: str = "") -> HttpResponse:
    body = f"<Message>{escape(text)}</Message>" if text else ""
    xml = f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'
    return HttpResponse(xml, content_type="text/xml; charset=utf-8")


class TwilioInboundView(_Webhook):
    """Twilio-shaped inbound SMS (form-encoded From, To, Body, MessageSid), verified with
    X-Twilio-Signature against SOS_TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL + this path; the
    answer is TwiML, with a short confirmation when there is one to give."""

    # Twilio posts application/x-www-form-urlencoded only: no multipart parser (file uploads
    # spooled to disk) for an unauthenticated endpoint.
    parser_classes = [parsers.FormParser]

    @extend_schema(
        request={"application/x-www-form-urlencoded": TwilioPost},
        responses={
            (200, "text/xml"): OpenApiResponse(
                OpenApiTypes.STR,
                description="TwiML",
                examples=[
                    OpenApiExample(
                        "confirmation",
                        value='<?xml version="1.0" encoding="UTF-8"?><Response><Message>'
                        'Recorded "I am safe" for alert #12: Fire</Message></Response>',
                    )
                ],
            ),
            400: error_response("`inbound_invalid`: From, Body or MessageSid missing"),
            403: error_response(
                "`signature_invalid`, or `inbound_not_configured` (no SOS_TWILIO_AUTH_TOKEN)"
            ),
        },
    )
    def post(self, request: Request) -> HttpResponse:
        token = settings.SOS_TWILIO_AUTH_TOKEN
        if not token:
            raise InboundNotConfigured("Twilio replies are not configured (SOS_TWILIO_AUTH_TOKEN).")
        data = request.data
        if not hasattr(data, "getlist"):
            raise SignatureInvalid("The X-Twilio-Signature does not verify.")
        params = [(key, value) for key in data for value in data.getlist(key)]
        url = public_base_url() + request.get_full_path()
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not twilio_signature_valid(token, url, params, signature):
            raise SignatureInvalid("The X-Twilio-Signature does not verify.")
        fields = {name: data.get(name) for name in ("MessageSid", "From", "Body")}
        missing = [name for name, value in fields.items() if not value and name != "Body"]
        missing += ["Body"] if fields["Body"] is None else []  # an empty text is a text
        if missing:
            raise InboundInvalid("The post lacks fields.", details={"missing": missing})
        result = inbound_sms_apply(
            provider="twilio",
            message_id=str(fields["MessageSid"]),
            sender=str(fields["From"]),
            body=str(fields["Body"]),
        )
        return twiml("" if result.duplicate else result.reply)
