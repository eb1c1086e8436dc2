"""Public status pages: HTML, JSON and an Atom feed of incidents, no login.

Cheap to serve on Lambda: every answer carries an ETag computed from the data (not the
rendering), so a matching If-None-Match is a 304 before any template runs, and
`Cache-Control: public, max-age=30` lets browsers and CloudFront answer repeat visits.
Nothing here reads the session, so the answers are the same for everyone and cacheable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import feedgenerator
from django.views.decorators.http import require_safe

from modules.netprobe.status_models import StatusPage
from modules.netprobe.status_snapshot import cached_snapshot, incident_dict, public_page
from portal.errors import envelope

MAX_AGE_S = 30
FEED_ENTRIES = 50


def _page(slug: str) -> StatusPage:
    page = public_page(slug)
    if page is None:
        raise Http404("No such status page.")
    return page


def _conditional(
    request: HttpRequest, data: object, variant: str, render: Callable[[], HttpResponse]
) -> HttpResponse:
    digest = hashlib.sha256(variant.encode() + _dumps(data).encode()).hexdigest()[:32]
    etag = f'"{digest}"'
    wanted = request.headers.get("If-None-Match", "")
    if etag in {t.strip().removeprefix("W/") for t in wanted.split(",")} or wanted == "*":
        response = HttpResponse(status=304)
    else:
        response = render()
    response["ETag"] = etag
    response["Cache-Control"] = f"public, max-age={MAX_AGE_S}"
    return response


def _dumps(data: object) -> str:
    return json.dumps(data, cls=DjangoJSONEncoder, sort_keys=True)


@require_safe
def page_html(request: HttpRequest, slug: str) -> HttpResponse:
    snapshot = cached_snapshot(slug)
    if snapshot is None:
        raise Http404("No such status page.")

    def render() -> HttpResponse:
        context = {
            "s": snapshot,
            "site_name": settings.SITE_NAME,
            "json_url": reverse("status:json", args=[slug]),
            "feed_url": reverse("status:feed", args=[slug]),
        }
        # Without the request: no context processor touches the session, nothing varies.
        return HttpResponse(render_to_string("netprobe/status/page.html", context))

    return _conditional(request, snapshot, "html", render)


@require_safe
def page_json(request: HttpRequest, slug: str) -> HttpResponse:
    snapshot = cached_snapshot(slug)
    if snapshot is None:
        return JsonResponse(envelope("not_found", "No such status page."), status=404)
    return _conditional(
        request,
        snapshot,
        "json",
        lambda: HttpResponse(_dumps(snapshot), content_type="application/json"),
    )


@require_safe
def page_feed(request: HttpRequest, slug: str) -> HttpResponse:
    page = _page(slug)
    incidents = [
        incident_dict(i) for i in page.incidents.prefetch_related("updates")[:FEED_ENTRIES]
    ]
    link = request.build_absolute_uri(reverse("status:page", args=[page.slug]))

    def render() -> HttpResponse:
        feed = feedgenerator.Atom1Feed(
            title=f"{page.title}: incidents",
            link=link,
            description=page.description,
            feed_url=request.build_absolute_uri(),
            language="en",
        )
        for incident in incidents:
            latest = incident["updates"][0] if incident["updates"] else None
            feed.add_item(
                title=f"{incident['title']} ({incident['status']})",
                link=f"{link}#incident-{incident['id']}",
                unique_id=f"{link}#incident-{incident['id']}",
                description=render_to_string(
                    "netprobe/status/feed_entry.html", {"incident": incident}
                ),
                pubdate=incident["created_at"],
                updateddate=latest["at"] if latest else incident["created_at"],
            )
        return HttpResponse(
            feed.writeString("utf-8"), content_type="application/atom+xml; charset=utf-8"
        )

    return _conditional(request, [link, page.title, page.description, incidents], "atom", render)
