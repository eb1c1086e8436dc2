"""boto3 clients for SES and SNS with botocore's retries off, and their errors classified."""

from __future__ import annotations

from typing import Any

from modules.sos.channels.base import ChannelError, truncate

_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "Throttled",
        "TooManyRequestsException",
        "LimitExceededException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "InternalFailure",
        "InternalErrorException",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
        "KMSThrottlingException",
    }
)
# The account or the credentials, not the message: retrying helps once they are fixed, and the
# recipient's contact method must not be marked as broken for them.
_ACCOUNT_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AuthorizationError",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "AccountSuspendedException",
        "SendingPausedException",
    }
)


def aws_client(
    service: str, *, region: str, timeout: float, endpoint_url: str | None = None
) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=region,
        connect_timeout=timeout,
        read_timeout=timeout,
        # total_max_attempts=1 is one request and no retry; botocore's `max_attempts` counts
        # retries only, so max_attempts=1 would still send twice.
        retries={"total_max_attempts": 1, "mode": "standard"},
    )
    # endpoint_url=None lets boto3 read AWS_ENDPOINT_URL itself (tests point it at moto).
    return boto3.session.Session().client(service, config=config, endpoint_url=endpoint_url)


def classify_aws_error(exc: BaseException) -> ChannelError:
    from botocore import exceptions as bce

    if isinstance(exc, bce.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        message = truncate(f"{code} (HTTP {status}): {error.get('Message', '')}", 300)
        if code in _TRANSIENT_CODES or code in _ACCOUNT_CODES or status == 429 or status >= 500:
            return ChannelError(message, permanent=False)
        return ChannelError(message, permanent=True)
    if isinstance(exc, bce.ParamValidationError):
        return ChannelError(truncate(f"Invalid request: {exc}", 300), permanent=True)
    if isinstance(exc, (bce.BotoCoreError, OSError)):
        # Connection refused, timeouts, closed connections, no credentials: all may pass.
        return ChannelError(truncate(f"{type(exc).__name__}: {exc}", 300), permanent=False)
    return ChannelError(truncate(f"{type(exc).__name__}: {exc}", 300), permanent=False)
