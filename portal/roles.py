"""Roles: `operators` act (run probes, raise alerts, compare faces), `viewers` read.

Staff and superusers use the admin; superusers count as operators, staff as viewers.
The same checks guard the HTML views and the API.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from rest_framework.permissions import SAFE_METHODS, BasePermission

OPERATORS = "operators"
VIEWERS = "viewers"


def _groups(user: Any) -> frozenset[str]:
    # Cached on the user object: one query per request, however many checks run.
    cached = getattr(user, "_portal_groups", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        user._portal_groups = cached
    return cached


def is_operator(user: Any) -> bool:
    if not (user and user.is_authenticated and user.is_active):
        return False
    return user.is_superuser or OPERATORS in _groups(user)


def can_view(user: Any) -> bool:
    if not (user and user.is_authenticated and user.is_active):
        return False
    return user.is_superuser or user.is_staff or bool(_groups(user) & {OPERATORS, VIEWERS})


def role_name(user: Any) -> str:
    if is_operator(user):
        return "operator"
    if can_view(user):
        return "viewer"
    return "none"


def _require(check: Callable[[Any], bool], message: str) -> Callable:
    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not check(request.user):
                raise PermissionDenied(message)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


viewer_required = _require(
    can_view, "Your account has no role yet: ask an admin to add you to viewers or operators."
)
operator_required = _require(is_operator, "Only operators can do this; viewers have read access.")


def can_see_costs(user: Any) -> bool:
    """Operators and staff see what the infrastructure costs (the Infrastructure page)."""
    if is_operator(user):
        return True
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


staff_or_operator_required = _require(
    can_see_costs, "Only operators and staff see what the infrastructure costs."
)


class IsViewer(BasePermission):
    message = "Your account has no role: ask an admin to add you to viewers or operators."

    def has_permission(self, request: Any, view: Any) -> bool:
        return can_view(request.user)


class IsOperator(BasePermission):
    message = "Only operators can do this; viewers have read access."

    def has_permission(self, request: Any, view: Any) -> bool:
        return is_operator(request.user)


class IsOperatorOrReadOnly(BasePermission):
    """Viewers may read; writes need an operator."""

    message = IsOperator.message

    def has_permission(self, request: Any, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            if not can_view(request.user):
                self.message = IsViewer.message
                return False
            return True
        return is_operator(request.user)
