"""Chat and push services (Slack, Telegram, Discord, ntfy, Home Assistant, ...) through Apprise.

Apprise makes its own connections, outside the egress door, so only admins configure these
contact methods, and every URL is judged before each send by what Apprise itself makes of it
(`Apprise.instantiate`, the plugin's own URL parsing):

- a service that names its server (json://HOST, ntfy://HOST/topic, hassio://HOST/token, ...;
  HOST_SCHEMES) is sent to only if the egress policy accepts every address HOST resolves to;
- a cloud service at a fixed public address (CLOUD_SCHEMES: slack://, tgram://, pover://,
  ntfy://topic, ...) needs no check: the part after :// is a token, not a host;
- any other service is refused (AppriseTargetUnknown): Portal cannot tell where it connects.

Residual risks, accepted because only staff configure Apprise URLs: Apprise resolves the name
again when it connects (a DNS answer that changes between the check and the connection, DNS
rebinding, is not caught), and its HTTP requests follow redirects, which are not re-checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from modules.sos.channels.base import (
    ChannelError,
    Message,
    Sent,
    Target,
    is_permanent_status,
    truncate,
)
from portal.egress import EgressForbidden, EgressPolicy, EgressResolveError

# Services whose host part, as Apprise parses it, is the server Apprise connects to.
HOST_SCHEMES = frozenset(
    {
        "apprise", "apprises", "bark", "barks", "emby", "embys", "enigma2", "enigma2s",
        "form", "forms", "gorush", "gorushs", "gotify", "gotifys", "growl", "hassio",
        "hassios", "jellyfin", "jellyfins", "json", "jsons", "kodi", "kodis", "mmost",
        "mmosts", "mqtt", "mqtts", "ncloud", "nclouds", "nctalk", "nctalks", "ntfy", "ntfys",
        "pjet", "pjets", "rocket", "rockets", "rsyslog", "signal", "signals", "synology",
        "synologys", "xbmc", "xbmcs", "xml", "xmls",
    }
)  # fmt: skip
# Cloud services at fixed public addresses; ntfy counts only without a host of its own.
CLOUD_SCHEMES = frozenset(
    {
        "discord", "gchat", "msteams", "ntfy", "ntfys", "opsgenie", "pagerduty", "pbul",
        "pover", "slack", "tgram",
    }
)  # fmt: skip


class InvalidAppriseUrl(ValueError):
    """Apprise does not read the address as exactly one notification URL."""


class AppriseTargetUnknown(ValueError):
    """The service is neither a known cloud service nor one whose server Portal can judge."""


@dataclass(frozen=True)
class AppriseTarget:
    plugin: Any  # the Apprise plugin instance, built once and sent through as it was judged
    scheme: str
    host: str  # "" for a cloud service
    port: int
    cloud: bool


def _schemes(plugin: Any) -> set[str]:
    # Read from the class: some plugins (Kodi) reuse `protocol` on the instance for a version.
    cls = type(plugin)
    names: set[str] = set()
    for value in (getattr(cls, "protocol", None), getattr(cls, "secure_protocol", None)):
        if isinstance(value, str):
            names.add(value.lower())
        elif isinstance(value, (list, tuple, set, frozenset)):
            names.update(str(v).lower() for v in value)
    return names


def parse_apprise_url(url: str) -> AppriseTarget:
    """What Apprise makes of `url`; raises InvalidAppriseUrl or AppriseTargetUnknown."""
    import apprise

    url = (url or "").strip()
    counter = apprise.Apprise()
    # add() splits on spaces and commas: a second URL would be notified without being judged.
    if not url or not counter.add(url) or len(counter) != 1:
        raise InvalidAppriseUrl("Not a valid Apprise URL (exactly one URL per contact method)")
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        raise InvalidAppriseUrl("Not a valid Apprise URL")
    schemes = _schemes(plugin)
    scheme = min(schemes) if schemes else "?"
    host = str(getattr(plugin, "host", "") or "")
    if schemes & HOST_SCHEMES and host:
        port = plugin.port if isinstance(plugin.port, int) else (443 if plugin.secure else 80)
        return AppriseTarget(plugin, scheme, host, port, cloud=False)
    if schemes & CLOUD_SCHEMES:
        return AppriseTarget(plugin, scheme, "", 443, cloud=True)
    raise AppriseTargetUnknown(
        f"Apprise {scheme}:// URLs are not allowed: Portal cannot tell which server they "
        "connect to. Use a webhook, or a service that names its server (json://, ntfy://, ...)."
    )


def check_apprise_target(url: str, policy: EgressPolicy) -> AppriseTarget:
    """The parsed target, after the egress policy judged its server.

    Raises InvalidAppriseUrl, AppriseTargetUnknown, EgressForbidden, or EgressResolveError.
    """
    target = parse_apprise_url(url)
    if not target.cloud:
        policy.resolve(target.host, target.port)
    return target


_STATUS = re.compile(r"\berror=(\d{3})\b")
_NOTIFY_TYPES = {"critical": "failure", "warning": "warning", "info": "info"}


class AppriseChannel:
    kind = "apprise"

    def __init__(self, *, timeout: float, policy: EgressPolicy | None = None) -> None:
        self.timeout = timeout
        self.policy = policy

    def send(self, target: Target, message: Message) -> Sent:
        import apprise

        try:
            if self.policy is None:
                judged = parse_apprise_url(target.address)
            else:
                judged = check_apprise_target(target.address, self.policy)
        except (InvalidAppriseUrl, AppriseTargetUnknown) as exc:
            raise ChannelError(str(exc), permanent=True) from exc
        except EgressForbidden as exc:
            raise ChannelError(str(exc), permanent=True) from exc
        except EgressResolveError as exc:
            raise ChannelError(str(exc), permanent=False) from exc
        notifier = apprise.Apprise()
        notifier.add(judged.plugin)
        logs: list[str] = []

        def collect(entry: Any, plugin: Any) -> None:
            if entry.level in ("WARNING", "ERROR", "CRITICAL"):
                logs.append(entry.message)

        result = notifier.notify(
            body=message.text,
            title=message.subject,
            notify_type=_NOTIFY_TYPES.get(message.severity, "info"),
            timeout=self.timeout,
            log_callback=collect,
        )
        if not result:
            # Apprise reports a yes/no and log lines; the HTTP status its plugins log
            # ("... error=404.") tells whether retrying helps; without one, retry.
            text = redact("; ".join(logs) or "Apprise reported a failure", target.address)
            statuses = [int(code) for code in _STATUS.findall(text)]
            permanent = bool(statuses) and all(is_permanent_status(code) for code in statuses)
            raise ChannelError(truncate(text, 300), permanent=permanent)
        return Sent(provider_message_id="apprise")

    def close(self) -> None:
        pass


def redact(text: str, url: str) -> str:
    """Blank the parts of an Apprise URL (tokens, passwords) that an error message repeats."""
    rest = url.partition("://")[2]
    for part in sorted(set(re.split(r"[/:@?&=#,\s]+", rest)), key=len, reverse=True):
        if len(part) >= 6:
            text = text.replace(part, "…")
    return text
