"""The live parts of the monitor pages: rendered with a version, polled, 204 when unchanged."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.views.decorators.cache import never_cache
from django_htmx.http import HttpResponseClientRefresh

from portal.roles import viewer_required


def live(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A live part's endpoint: never cached; a signed-out page reloads (to the login form)
    instead of having the login page swapped into it."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return HttpResponseClientRefresh()
        return viewer_required(view)(request, *args, **kwargs)

    return never_cache(wrapper)


def live_part(
    request: HttpRequest, template: str, context: dict[str, Any], version: str
) -> SafeString:
    """The part a page refreshes, closed by its version (the page sends it back)."""
    body = render_to_string(template, context, request=request)
    return body + format_html('<input type="hidden" name="v" value="{}">', version)


def live_response(
    request: HttpRequest, template: str, version: str, context: Callable[[], dict[str, Any]]
) -> HttpResponse:
    if request.GET.get("v") == version:
        # Nothing changed: 204 leaves the page alone, so a hovered beat keeps its tooltip and
        # a focused link its focus; htmx keeps polling either way.
        return HttpResponse(status=204)
    return HttpResponse(live_part(request, template, context(), version))
