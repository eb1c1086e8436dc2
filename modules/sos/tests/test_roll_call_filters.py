"""The roll-call page and the API read their filters with one parser: a group by id or by
name on both, an unknown status dropped on the page and refused by the API."""

from __future__ import annotations

import re

import pytest

from modules.sos import services
from modules.sos.tests.test_views import login

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert(make_contact):
    make_contact("Ann", email="ann@example.com", groups=["wardens"])
    make_contact("Bob", email="bob@example.com", groups=["floor 3"])
    return services.alert_raise(message="Fire", groups=["wardens", "floor 3"]).alert


def names_on_page(client, alert, query: str) -> list[str]:
    html = client.get(f"/sos/alerts/{alert.pk}/roll-call/{query}").content.decode()
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    return [name for name in ("Ann", "Bob") if re.search(rf"\b{name}\b", body)]


def test_the_page_and_the_api_filter_a_group_by_name_alike(viewer, viewer_api, alert):
    assert names_on_page(login(viewer), alert, "?group=wardens") == ["Ann"]
    api = viewer_api.get(f"/api/sos/alerts/{alert.pk}/roll-call/?group=wardens").json()
    assert [p["name"] for p in api["people"]] == ["Ann"]


def test_an_unknown_status_is_dropped_on_the_page_and_refused_by_the_api(viewer, viewer_api, alert):
    assert names_on_page(login(viewer), alert, "?status=bogus") == ["Ann", "Bob"]
    response = viewer_api.get(f"/api/sos/alerts/{alert.pk}/roll-call/?status=bogus")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "validation_error")
