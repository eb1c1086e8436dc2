from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.templatetags.static import static

from portal import login_limits
from portal.modules import card, enabled_modules
from portal.roles import viewer_required


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


class LoginView(auth_views.LoginView):
    """Django's login, which says so when failed attempts locked the client or the username."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        # Django's LoginView names the site after the request's host; ours has a name.
        return {**super().get_context_data(**kwargs), "site_name": settings.SITE_NAME}

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if login_limits.is_locked(request, request.POST.get("username", "")):
            return login_limits.locked_response(request)
        return super().post(request, *args, **kwargs)


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's login under the same limit, with the same answer while it holds."""
    if request.method == "POST" and login_limits.is_locked(
        request, request.POST.get("username", "")
    ):
        return login_limits.locked_response(request)
    return admin.site.login(request)


class PasswordChangeView(auth_views.PasswordChangeView):
    """A new password also retires the user's API token: whoever knew the old one may hold it."""

    def form_valid(self, form: Any) -> HttpResponse:
        from rest_framework.authtoken.models import Token

        Token.objects.filter(user=form.user).delete()
        return super().form_valid(form)
