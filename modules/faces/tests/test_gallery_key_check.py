"""`manage.py check --deploy` warns before production answers 503 on every gallery call."""

from __future__ import annotations

import pytest
from django.core import checks
from django.test import override_settings

pytestmark = pytest.mark.nodb


def deploy_warnings() -> list[str]:
    return [m.id for m in checks.run_checks(include_deployment_checks=True) if m.id]


@override_settings(DEBUG=False, FACES_KMS_KEY_ID="", FACES_MASTER_KEY="")
def test_production_without_a_gallery_key_is_warned_about():
    assert "faces.W001" in deploy_warnings()


@pytest.mark.parametrize(
    "key",
    [
        {"FACES_KMS_KEY_ID": "alias/portal-faces-production", "FACES_MASTER_KEY": ""},
        {"FACES_KMS_KEY_ID": "", "FACES_MASTER_KEY": "A" * 43 + "="},
    ],
)
def test_either_key_silences_the_warning(key):
    with override_settings(DEBUG=False, **key):
        assert "faces.W001" not in deploy_warnings()


@override_settings(DEBUG=False, FACES_KMS_KEY_ID="", FACES_MASTER_KEY="", PORTAL_MODULES=["sos"])
def test_a_deployment_without_faces_needs_no_key():
    assert "faces.W001" not in deploy_warnings()
