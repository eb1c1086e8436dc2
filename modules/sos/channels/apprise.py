"""Chat and push services (Slack, Teams, Telegram, Discord, ntfy, ...) through Apprise URLs.

Apprise makes its own HTTP requests, outside the egress door, so only admins configure these
contact methods; for the generic schemes that name a host, the host is still judged first.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from modules.sos.channels.base import ChannelError, Message, Sent, Target, truncate
from portal.egress import EgressForbidden, EgressPolicy, EgressResolveError

# Schemes whose host part is the server Apprise will connect to (not a token).
HOST_SCHEMES = {
    "json": 80,
    "jsons": 443,
    "xml": 80,
    "xmls": 443,
    "form": 80,
    "forms": 443,
    "gotify": 80,
    "gotifys": 443,
    "mmost": 8065,
    "mmosts": 443,
    "ntfy": 80,
    "ntfys": 443,
}


def check_apprise_host(url: str, policy: EgressPolicy) -> None:
    """Raises EgressForbidden when a host-naming Apprise URL points where egress refuses."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in HOST_SCHEMES or not parts.hostname:
        return
    if scheme.startswith("ntfy") and "." not in parts.hostname and ":" not in parts.hostname:
        return  # ntfy://topic means the public ntfy.sh; the "host" is the topic name
    policy.resolve(parts.hostname, parts.port or HOST_SCHEMES[scheme])


_NOTIFY_TYPES = {"critical": "failure", "warning": "warning", "info": "info"}


class AppriseChannel:
    kind = "apprise"

    def __init__(self, *, timeout: float, policy: EgressPolicy | None = None) -> None:
        self.timeout = timeout
        self.policy = policy

    def send(self, target: Target, message: Message) -> Sent:
        import apprise

        if self.policy is not None:
            try:
                check_apprise_host(target.address, self.policy)
            except EgressForbidden as exc:
                raise ChannelError(str(exc), permanent=True) from exc
            except EgressResolveError as exc:
                raise ChannelError(str(exc), permanent=False) from exc
        notifier = apprise.Apprise()
        if not notifier.add(target.address):
            raise ChannelError("Not a valid Apprise URL", permanent=True)
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
            # Apprise reports a yes/no and log lines, not whether retrying helps: retry.
            raise ChannelError(truncate("; ".join(logs) or "Apprise reported a failure", 300))
        return Sent(provider_message_id="apprise")

    def close(self) -> None:
        pass
