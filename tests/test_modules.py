"""PORTAL_MODULES decides which modules' pages, API routes and dashboard cards are mounted."""

from __future__ import annotations

import importlib

import pytest
from django.test import override_settings
from django.urls import clear_url_caches


def remount() -> None:
    import portal.urls

    importlib.reload(portal.urls)
    clear_url_caches()


@pytest.fixture
def only_netprobe():
    with override_settings(PORTAL_MODULES=["netprobe"]):
        remount()
        yield
    remount()


def test_all_three_cards_show_by_default(client, operator):
    client.force_login(operator)
    html = client.get("/").content.decode()
    for label in ("netprobe", "sos", "faces"):
        assert f'id="card-{label}"' in html


def test_a_disabled_module_has_no_card_and_its_urls_answer_404(client, operator, only_netprobe):
    client.force_login(operator)
    html = client.get("/").content.decode()
    assert 'id="card-netprobe"' in html
    assert 'id="card-sos"' not in html
    assert 'id="card-faces"' not in html
    assert client.get("/netprobe/").status_code == 200
    assert client.get("/sos/").status_code == 404
    assert client.get("/faces/").status_code == 404
    assert client.get("/dashboard/cards/sos/").status_code == 404


def test_a_disabled_module_api_answers_404_in_the_envelope(operator_api, only_netprobe):
    assert operator_api.get("/api/netprobe/").status_code == 200
    response = operator_api.get("/api/faces/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    root = operator_api.get("/api/").json()
    assert list(root["modules"]) == ["netprobe"]


def test_the_api_root_lists_every_enabled_module(operator_api):
    root = operator_api.get("/api/").json()
    assert list(root["modules"]) == ["netprobe", "sos", "faces"]
    assert root["schema"].endswith("/api/schema/")


def test_a_card_refreshes_on_its_own_url(client, operator):
    client.force_login(operator)
    response = client.get("/dashboard/cards/netprobe/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b'id="card-netprobe"' in response.content
