from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.templatetags.static import static

from portal.modules import card, enabled_modules
from portal.roles import viewer_required

LOGIN_WINDOW_S = 15 * 60


def favicon(request: HttpRequest) -> HttpResponse:
    return HttpResponseRedirect(static("img/portal.svg"))


@viewer_required
def dashboard(request: HttpRequest) -> HttpResponse:
    cards = [card(module, request) for module in enabled_modules()]
    return render(request, "dashboard.html", {"cards": cards})


@viewer_required
def dashboard_card(request: HttpRequest, label: str) -> HttpResponse:
    module = next((m for m in enabled_modules() if m.label == label), None)
    if module is None:
        raise Http404("No such module")
    return render(request, "_card.html", {"card": card(module, request)})


def _client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


class LoginView(auth_views.LoginView):
    """Django's login, with failed attempts limited per client address and per username."""

    redirect_authenticated_user = True

    def _keys(self) -> list[str]:
        username = self.request.POST.get("username", "").strip().lower()[:150]
        return [f"login-fail:ip:{_client_ip(self.request)}", f"login-fail:user:{username}"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if any(cache.get(key, 0) >= settings.LOGIN_RATE_LIMIT for key in self._keys()):
            response = render(request, "registration/locked.html", status=429)
            response["Retry-After"] = str(LOGIN_WINDOW_S)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        for key in self._keys():
            cache.add(key, 0, LOGIN_WINDOW_S)
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, LOGIN_WINDOW_S)
        return super().form_invalid(form)
