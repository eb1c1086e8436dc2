"""The deploy check warns when message links would not reach the portal."""

from __future__ import annotations

import pytest

from modules.sos.apps import check_public_base_url

pytestmark = pytest.mark.nodb


def test_warns_without_a_public_address(settings):
    settings.DEBUG = False
    settings.PUBLIC_BASE_URL = ""
    settings.ALLOWED_HOSTS = [".execute-api.us-east-1.amazonaws.com"]
    (warning,) = check_public_base_url()
    assert warning.id == "sos.W001"


def test_is_quiet_with_a_public_address_or_a_host_name(settings):
    settings.DEBUG = False
    settings.PUBLIC_BASE_URL = ""
    settings.ALLOWED_HOSTS = ["portal.example.com"]
    assert check_public_base_url() == []
    settings.PUBLIC_BASE_URL = "https://alerts.example.com"
    settings.ALLOWED_HOSTS = []
    assert check_public_base_url() == []
