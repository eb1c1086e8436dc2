"""Status API paths read their ids as the rest of the API does, and document what they answer."""

from __future__ import annotations

import pytest

from modules.netprobe import status

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("np_settings")]
API = "/api/netprobe"
NO_ROW_CAN_HAVE = ["null%2Cnull", "9223372036854775808", "0", "%C2%B2"]


@pytest.mark.parametrize("junk", NO_ROW_CAN_HAVE)
def test_an_id_no_row_can_have_is_a_404_on_every_status_path(operator_api, junk):
    update = {"status": "investigating", "message": "x"}
    calls = [
        ("get", f"{API}/status-pages/{junk}/", None),
        ("delete", f"{API}/status-pages/{junk}/", None),
        ("patch", f"{API}/status-pages/{junk}/", {"title": "x"}),
        ("get", f"{API}/status-pages/{junk}/incidents/", None),
        ("post", f"{API}/status-pages/{junk}/incidents/", {"title": "x", "message": "x"}),
        ("get", f"{API}/incidents/{junk}/", None),
        ("delete", f"{API}/incidents/{junk}/", None),
        ("post", f"{API}/incidents/{junk}/updates/", update),
        ("get", f"{API}/maintenance/{junk}/", None),
        ("delete", f"{API}/maintenance/{junk}/", None),
    ]
    for method, url, body in calls:
        response = getattr(operator_api, method)(url, body, format="json")
        assert response.status_code == 404, (method, url, response.content)
        assert response.json()["error"]["code"] == "not_found"


def test_a_real_incident_still_takes_updates_and_deletes_with_204(operator_api):
    page = status.status_page_save(title="Acme", groups=[])
    incident = status.incident_create(page=page, title="Down", message="Looking")

    posted = operator_api.post(
        f"{API}/incidents/{incident.pk}/updates/",
        {"status": "resolved", "message": "Fixed"},
        format="json",
    )

    assert posted.status_code == 201
    assert operator_api.delete(f"{API}/incidents/{incident.pk}/").status_code == 204
    assert operator_api.delete(f"{API}/status-pages/{page.pk}/").status_code == 204


def test_a_monitor_id_past_a_bigint_in_a_group_is_a_400_naming_it(operator_api):
    body = {"title": "Acme", "groups": [{"name": "All", "monitors": [2**63]}]}

    response = operator_api.post(f"{API}/status-pages/", body, format="json")

    assert response.status_code == 400
    assert "monitors" in response.json()["error"]["details"]["fields"]["groups"]["0"]


def test_the_schema_documents_the_204_of_every_status_delete(operator_api):
    paths = operator_api.get("/api/schema/", {"format": "json"}).json()["paths"]

    for name in ("status-pages", "incidents", "maintenance"):
        responses = paths[f"{API}/{name}/{{id}}/"]["delete"]["responses"]
        assert "204" in responses, name
        assert "200" not in responses, name
