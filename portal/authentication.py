"""DRF authentication as the portal configures it (imported by DRF's settings: keep it small)."""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework import authentication, exceptions

from portal.errors import PortalError


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session login; a CSRF failure answers `csrf_failed`, as everywhere else."""

    def enforce_csrf(self, request: HttpRequest) -> None:
        try:
            super().enforce_csrf(request)
        except exceptions.PermissionDenied as exc:
            raise PortalError(str(exc.detail), code="csrf_failed", status=403) from None
