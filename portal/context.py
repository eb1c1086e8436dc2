from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from portal.modules import enabled_modules
from portal.roles import is_operator, role_name


def portal(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {
        "site_name": settings.SITE_NAME,
        "portal_modules": enabled_modules(),
        "is_operator": is_operator(user),
        "role": role_name(user),
    }
