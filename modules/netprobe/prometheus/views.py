"""`/probe` (blackbox_exporter's) and `/metrics`: text for Prometheus, behind a token or a password.

Prometheus scrape configs send `authorization` (Bearer by default) or `basic_auth`: a Portal API
token works as `Bearer` or `Token`, a password as basic auth. `/metrics` reads what monitors
stored, so a viewer (or a logged-in browser's session) is enough. `/probe` runs a probe, which
everywhere else takes an operator; it takes no session either (a cross-site GET carrying the
cookie must not make Portal connect anywhere) and is rate-limited per user. Errors are short
plain text, as blackbox_exporter writes them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe
from rest_framework.authtoken.models import Token
from rest_framework.throttling import UserRateThrottle

from portal.roles import IsOperator, IsViewer, can_view, is_operator

from .config import available_modules
from .scrape import InvalidTimeoutHeader, ProbeScrape, monitors_scrape, probe_scrape, probe_timeout

CHALLENGE = 'Bearer realm="Portal", Basic realm="Portal", charset="UTF-8"'
DEFAULT_MODULE = "http_2xx"  # blackbox_exporter's default


def scrape_user(request: HttpRequest, *, session: bool = True) -> Any | None:
    """The user the scrape's credentials (or, when `session`, the session) name, or None."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = header.strip().partition(" ")
    scheme, credentials = scheme.lower(), credentials.strip()
    if scheme in ("bearer", "token") and credentials:
        token = Token.objects.select_related("user").filter(key=credentials).first()
        return token.user if token is not None and token.user.is_active else None
    if scheme == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeError):
            return None
        username, colon, password = decoded.partition(":")
        if not colon:
            return None
        # The login limits apply: authenticate() passes the same gate as every login.
        return authenticate(request, username=username, password=password)
    if header or not session:
        return None  # credentials of another kind are refused, not replaced by the session
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


class ProbeThrottle(UserRateThrottle):
    """The API's per-user throttle, with /probe's own rate and counter."""

    scope = "prometheus-probe"

    def get_rate(self) -> str:
        return settings.NETPROBE_PROBE_RATE  # read per request, so a test can change it


def scrape_auth(
    *, allowed: Callable[[Any], bool], message: str, session: bool, throttle: bool = False
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = scrape_user(request, session=session)
            if user is None:
                response = _text(
                    "Authentication required: send a Portal API token "
                    "(Authorization: Bearer <token>) or basic auth\n",
                    401,
                )
                response["WWW-Authenticate"] = CHALLENGE
                return response
            if not allowed(user):
                return _text(f"{message}\n", 403)
            if throttle:
                limiter = ProbeThrottle()
                request.user = user  # the throttle counts per user
                if not limiter.allow_request(request, None):
                    response = _text("Too many probes: slow the scrape down\n", 429)
                    response["Retry-After"] = str(max(1, round(limiter.wait() or 1)))
                    return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


@require_safe
@scrape_auth(allowed=is_operator, message=IsOperator.message, session=False, throttle=True)
def probe(request: HttpRequest) -> HttpResponse:
    params = request.GET
    name = params.get("module") or DEFAULT_MODULE
    module = available_modules(settings.NETPROBE_PROMETHEUS_MODULES).get(name)
    if module is None:
        return _text(f"Unknown module {json.dumps(name)}\n", 400)
    target = params.get("target", "")
    if not target:
        return _text("Target parameter is missing\n", 400)
    if params.get("hostname"):
        return _text("The hostname parameter is not supported: NetProbe sets no Host header\n", 400)
    try:
        timeout_s = probe_timeout(
            module, request.headers.get("X-Prometheus-Scrape-Timeout-Seconds")
        )
    except InvalidTimeoutHeader as exc:
        return _text(f"{exc}\n", 400)
    scrape = probe_scrape(module=module, target=target, timeout_s=timeout_s)
    if params.get("debug") == "true":
        return _text(debug_output(scrape), 200)
    body, content_type = scrape.families.render(request.headers.get("Accept", ""))
    return _exposition(body, content_type)


@require_safe
@scrape_auth(allowed=can_view, message=IsViewer.message, session=True)
def metrics(request: HttpRequest) -> HttpResponse:
    body, content_type = monitors_scrape().render(request.headers.get("Accept", ""))
    return _exposition(body, content_type)


def debug_output(scrape: ProbeScrape) -> str:
    """blackbox_exporter's debug page: the probe's log, its metrics, the module."""
    metrics, _ = scrape.families.render()
    module = {"prober": scrape.module.prober, **scrape.module.config}
    return (
        "Logs for the probe:\n"
        + "".join(f"{line}\n" for line in scrape.log.lines)
        + "\n\n\nMetrics that would have been returned:\n"
        + metrics.decode()
        + "\n\n\nModule configuration:\n"
        + json.dumps(module, indent=2, default=str)
        + "\n"
    )


def _exposition(body: bytes, content_type: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response


def _text(body: str, status: int) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response
