from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from portal.roles import viewer_required


def card_context(request: HttpRequest) -> dict[str, Any]:
    return {"status": "idle", "stats": [], "rows": [], "empty": "Nothing here yet."}


@viewer_required
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "sos/index.html")
