"""boto3 clients for SES and SNS with botocore's retries off, and their errors classified."""

from __future__ import annotations

import os
from typing import Any

from modules.sos.channels.base import RETRYABLE_4XX, ChannelError, body_excerpt

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
# The account, the credentials or the sender, not the message or the address: retrying cannot
# help until someone fixes the setup, so they fail at once, and they do not mark the
# recipient's contact method as broken.
_CONFIGURATION_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AuthorizationError",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "OptInRequired",
        "AccountSuspendedException",
        "SendingPausedException",
        "MessageRejected",  # SES: most often an unverified sender in the sandbox
        "MailFromDomainNotVerifiedException",
        "ConfigurationSetDoesNotExist",
        "ConfigurationSetDoesNotExistException",
        "NotFoundException",  # sesv2: a configuration set or identity that is not there
        "InvalidSecurity",
        "KMSAccessDeniedException",
        "KMSDisabledException",
    }
)
# Temporary credentials that ran out: the SDK fetches new ones on the next call.
_RENEWED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})


def aws_client(
    service: str, *, region: str, timeout: float, endpoint_url: str | None = None
) -> Any:
    import boto3
    from botocore.config import Config

    # botocore's timeouts are per step (connecting, then each read), not per call: half each,
    # so that connecting and waiting for the answer together stay within `timeout`, the
    # send time the lease is sized for (leases.py); a whole timeout each let one call run 2x
    # past its lease and go out again from another worker.
    config = Config(
        region_name=region,
        connect_timeout=timeout / 2,
        read_timeout=timeout / 2,
        # total_max_attempts=1 is one request and no retry; botocore's `max_attempts` counts
        # retries only, so max_attempts=1 would still send twice.
        retries={"total_max_attempts": 1, "mode": "standard"},
    )
    session = boto3.session.Session()
    # endpoint_url: the caller's setting (AWS_ENDPOINT_URL). boto3 also reads that variable
    # from the environment; another endpoint (moto) serves whatever region it is given.
    if not (endpoint_url or os.environ.get("AWS_ENDPOINT_URL")):
        check_region(session, service, region)
    return session.client(service, config=config, endpoint_url=endpoint_url)


def check_region(session: Any, service: str, region: str) -> None:
    """A region AWS does not offer `service` in is a typo, not an outage: botocore would build
    a host name that does not resolve and every send would be retried as a network error."""
    known: set[str] = set()
    for partition in session.get_available_partitions():
        known.update(session.get_available_regions(service, partition_name=partition))
    if known and region not in known:
        raise ChannelError(
            f"AWS region {region!r} does not offer {service} (SOS_AWS_REGION)",
            permanent=True,
            configuration=True,
        )


def classify_aws_error(exc: BaseException) -> ChannelError:
    from botocore import exceptions as bce

    if isinstance(exc, bce.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        text = body_excerpt(str(error.get("Message", "")))
        message = f"{code} (HTTP {status})" + (f": {text}" if text else "")
        if code in _CONFIGURATION_CODES:
            return ChannelError(message, permanent=True, configuration=True)
        if code in _TRANSIENT_CODES or code in _RENEWED_CODES:
            return ChannelError(message, permanent=False)
        if status in RETRYABLE_4XX or (status >= 500 and status != 501) or not status:
            return ChannelError(message, permanent=False)
        return ChannelError(message, permanent=True)
    if isinstance(exc, bce.ParamValidationError):
        return ChannelError(f"Invalid request: {exc}", permanent=True)
    if isinstance(exc, _configuration_errors()):
        # No credentials, no region, a region or endpoint botocore rejects: fixed only by
        # someone changing the setup, so there is no point asking again in ten seconds.
        return ChannelError(
            f"AWS is not configured: {type(exc).__name__}: {exc}",
            permanent=True,
            configuration=True,
        )
    # Connection refused, timeouts, closed connections: all may pass.
    return ChannelError(f"{type(exc).__name__}: {exc}", permanent=False)


def _configuration_errors() -> tuple[type[BaseException], ...]:
    from botocore import exceptions as bce

    return (
        bce.NoCredentialsError,
        bce.PartialCredentialsError,
        bce.NoRegionError,
        bce.InvalidRegionError,
        bce.InvalidEndpointConfigurationError,
        bce.UnknownEndpointError,
        bce.ProfileNotFound,
        bce.InvalidConfigError,
    )
