"""Preflight: what each channel needs before it can send, known without sending anything.

`channel_warnings(kinds)` is asked at contact (method) save, at alert preview and raise, and on
the alert page, so an operator learns that SMS cannot go out before the first emergency, not
from a column of failed deliveries. Nothing here opens a connection: AWS credentials are
resolved by botocore's own chain with its two network providers (instance metadata, container
endpoint) left out; the container endpoint counts when its variable is set.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from email.utils import parseaddr

from django.conf import settings

from modules.sos.channels.email import BACKENDS
from modules.sos.channels.smtp import DJANGO_SMTP
from modules.sos.channels.smtp import PATH as DEADLINE_SMTP

# Providers of botocore's chain that ask a server: left out, the preflight stays offline.
_NETWORK_PROVIDERS = ("iam-role", "container-role")
_CONTAINER_VARS = ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")
# Resolving credentials may run a profile's credential_process (an SSO helper, a vault CLI):
# once per process and minute for one environment and one state of the AWS files, not on every
# contact save and alert page.
CREDENTIALS_TTL_S = 60.0
_credentials_seen: dict[tuple[object, ...], tuple[float, bool]] = {}
_LOCAL_BACKENDS = {
    BACKENDS["console"]: "written to the server's console",
    BACKENDS["file"]: "written to files on the server",
    BACKENDS["locmem"]: "kept in memory",
    "django.core.mail.backends.dummy.EmailBackend": "dropped",
}
ORDER = ("email", "sms", "webhook", "apprise")


@dataclass(frozen=True)
class ChannelWarning:
    """One reason a channel cannot deliver as configured; `code` is stable for API clients."""

    kind: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def channel_warnings(kinds: Iterable[str]) -> list[ChannelWarning]:
    """The warnings of the channels in `kinds` (unknown kinds are ignored), in a fixed order."""
    wanted = set(kinds)
    warnings: list[ChannelWarning] = []
    for kind in ORDER:
        if kind in wanted:
            warnings.extend(_CHECKS[kind]())
    return warnings


def as_dicts(warnings: Iterable[ChannelWarning]) -> list[dict[str, str]]:
    return [w.as_dict() for w in warnings]


def _sms() -> list[ChannelWarning]:
    return _aws("sms", "sns", "SMS")


def _email() -> list[ChannelWarning]:
    choice = settings.SOS_EMAIL_BACKEND
    if choice == "ses":
        warnings = _aws("email", "sesv2", "Email through Amazon SES")
        if not _sender_ok():
            warnings.append(
                ChannelWarning(
                    "email", "email_sender_missing", "Email cannot be sent: set SOS_EMAIL_FROM."
                )
            )
        return warnings
    backend = settings.EMAIL_BACKEND if choice == "default" else BACKENDS.get(choice, choice)
    if backend in _LOCAL_BACKENDS:
        source = "EMAIL_BACKEND" if choice == "default" else "SOS_EMAIL_BACKEND"
        return [
            ChannelWarning(
                "email",
                "email_not_delivered",
                f"Email is not delivered: {source} is {backend.rsplit('.', 2)[-2]!r}, so "
                f"messages are {_LOCAL_BACKENDS[backend]}. Use smtp or ses.",
            )
        ]
    warnings = []
    if backend in (DJANGO_SMTP, DEADLINE_SMTP) and not (settings.EMAIL_HOST or "").strip():
        warnings.append(
            ChannelWarning(
                "email", "email_host_missing", "Email cannot be sent: EMAIL_HOST is not set."
            )
        )
    if not _sender_ok():
        warnings.append(
            ChannelWarning(
                "email", "email_sender_missing", "Email cannot be sent: set SOS_EMAIL_FROM."
            )
        )
    return warnings


def _sender_ok() -> bool:
    return "@" in parseaddr(settings.SOS_EMAIL_FROM or "")[1]


def _apprise() -> list[ChannelWarning]:
    try:
        missing = importlib.util.find_spec("apprise") is None
    except ValueError:  # in sys.modules without a spec: a stand-in, not the library
        missing = True
    if missing:
        return [
            ChannelWarning(
                "apprise",
                "apprise_missing",
                "Chat and push messages cannot be sent: the apprise library is not installed.",
            )
        ]
    return []


def _webhook() -> list[ChannelWarning]:
    return []  # a URL is all a webhook needs; its peer is judged at send time


_CHECKS = {"email": _email, "sms": _sms, "webhook": _webhook, "apprise": _apprise}


def _aws(kind: str, service: str, what: str) -> list[ChannelWarning]:
    import botocore.session
    from botocore import exceptions as bce

    warnings = []
    region = (settings.SOS_AWS_REGION or "").strip()
    try:
        session = botocore.session.get_session()
        if not region:
            warnings.append(
                ChannelWarning(
                    kind, "aws_region_missing", f"{what} cannot be sent: set SOS_AWS_REGION."
                )
            )
        elif not settings.AWS_ENDPOINT_URL and not _region_offers(service, region):
            warnings.append(
                ChannelWarning(
                    kind,
                    "aws_region_invalid",
                    f"{what} cannot be sent: AWS region {region!r} does not offer {service} "
                    "(SOS_AWS_REGION).",
                )
            )
        if not _has_credentials_cached(session):
            warnings.append(
                ChannelWarning(
                    kind,
                    "aws_credentials_missing",
                    f"{what} cannot be sent: no AWS credentials were found (environment, "
                    "shared credentials or config file, web identity, SSO, container role). "
                    "An EC2 instance role or EKS node role (instance metadata) is not "
                    "checked from here.",
                )
            )
    except bce.BotoCoreError as exc:  # a profile that is not there, a config file botocore refuses
        warnings.append(
            ChannelWarning(
                kind, "aws_config_invalid", f"{what} cannot be sent: {type(exc).__name__}: {exc}"
            )
        )
    return warnings


@functools.cache
def _region_offers(service: str, region: str) -> bool:
    """Whether botocore's bundled endpoint data lists `region` for `service` (read once per
    process: the data ships with botocore and takes 150-600 ms to walk)."""
    import botocore.session

    session = botocore.session.get_session()
    known: set[str] = set()
    for partition in session.get_available_partitions():  # type: ignore[attr-defined]
        known.update(session.get_available_regions(service, partition_name=partition))  # type: ignore[attr-defined]
    return not known or region in known


def _aws_files_state() -> tuple[object, ...]:
    state: list[object] = sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))
    home = os.path.expanduser("~/.aws")
    for variable, default in (
        ("AWS_SHARED_CREDENTIALS_FILE", os.path.join(home, "credentials")),
        ("AWS_CONFIG_FILE", os.path.join(home, "config")),
    ):
        path = os.path.expanduser(os.environ.get(variable) or default)
        try:
            info = os.stat(path)
            state.append((path, info.st_mtime_ns, info.st_size))
        except OSError:
            state.append((path, None))
    return tuple(state)


def _has_credentials_cached(session: object) -> bool:
    key = _aws_files_state()
    seen = _credentials_seen.get(key)
    if seen is not None and time.monotonic() - seen[0] < CREDENTIALS_TTL_S:
        return seen[1]
    found = _has_credentials(session)
    if len(_credentials_seen) > 32:
        _credentials_seen.clear()
    _credentials_seen[key] = (time.monotonic(), found)
    return found


def _has_credentials(session: object) -> bool:
    if any(os.environ.get(name) for name in _CONTAINER_VARS):
        return True  # resolved by asking the container endpoint, which the preflight does not
    resolver = session.get_component("credential_provider")  # type: ignore[attr-defined]
    for name in _NETWORK_PROVIDERS:
        resolver.remove(name)  # a no-op for a provider the chain does not have
    return resolver.load_credentials() is not None
