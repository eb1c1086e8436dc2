"""POST/GET /api/sos/alerts/: raise, idempotency, detail with counts, cancel, roles."""

from __future__ import annotations

import pytest

from modules.sos.models import Alert, Delivery

URL = "/api/sos/alerts/"


@pytest.fixture
def ops(make_contact):
    make_contact("Ann", email="ann@example.com", phone="+15555550100", groups=["ops"])
    make_contact("Bob", email="bob@example.com", groups=["ops", "leads"])


def raise_alert(api, **body):
    payload = {"message": "Fire in building 2", "groups": ["ops"], **body}
    return api.post(URL, payload, format="json")


def test_raises_an_alert_and_answers_201_with_its_deliveries(operator_api, ops):
    response = raise_alert(
        operator_api,
        severity="warning",
        location={"lat": 52.52, "lon": 13.405, "accuracy_m": 15},
        require_ack=True,
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["severity"] == "warning"
    assert body["raised_by"] == "olivia"
    assert body["location"] == {"lat": 52.52, "lon": 13.405, "accuracy_m": 15.0}
    assert body["counts"]["pending"] == 3
    assert body["progress"] == {
        "total": 3,
        "done": 0,
        "percent": 0,
        "finished": False,
        "reached": 0,
        "failed": 0,
    }
    assert sorted(d["kind"] for d in body["deliveries"]) == ["email", "email", "sms"]
    assert body["replayed"] is False


def test_the_same_idempotency_key_returns_the_same_alert_with_200(operator_api, ops):
    first = operator_api.post(
        URL, {"message": "Fire", "groups": ["ops"]}, format="json", HTTP_IDEMPOTENCY_KEY="abc"
    )
    again = operator_api.post(
        URL, {"message": "Fire", "groups": ["ops"]}, format="json", HTTP_IDEMPOTENCY_KEY="abc"
    )
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["replayed"] is True
    assert Alert.objects.count() == 1
    assert Delivery.objects.count() == 3


def test_an_idempotency_key_reused_for_another_alert_is_422(operator_api, ops):
    operator_api.post(
        URL, {"message": "Fire", "groups": ["ops"]}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    response = operator_api.post(
        URL, {"message": "Flood", "groups": ["ops"]}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"


def test_a_dry_run_returns_the_recipients_and_sends_nothing(operator_api, ops):
    response = raise_alert(operator_api, dry_run=True, channels=["email"])
    assert response.status_code == 200
    body = response.json()
    assert body["dry_run"] is True
    assert [(r["contact_name"], r["kind"]) for r in body["recipients"]] == [
        ("Ann", "email"),
        ("Bob", "email"),
    ]
    assert not Alert.objects.exists()


def test_a_test_alert_goes_to_one_chosen_method(operator_api, ops):
    method = Delivery._meta.get_field("method").related_model.objects.get(kind="sms")
    response = operator_api.post(
        URL, {"message": "Test", "test": True, "method": method.pk}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["is_test"] is True
    assert [d["method"] for d in body["deliveries"]] == [method.pk]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"message": "", "groups": ["ops"]}, 400, "validation_error"),
        ({"message": "x"}, 400, "validation_error"),
        ({"message": "x", "groups": ["ops"], "severity": "doom"}, 400, "validation_error"),
        (
            {"message": "x", "groups": ["ops"], "location": {"lat": 100, "lon": 0}},
            400,
            "validation_error",
        ),
        ({"message": "x", "groups": ["nope"]}, 400, "unknown_recipient"),
        ({"message": "x", "groups": ["ops"], "channels": ["webhook"]}, 422, "no_recipients"),
    ],
)
def test_refuses_bad_alerts_in_the_error_envelope(operator_api, ops, body, status, code):
    response = operator_api.post(URL, body, format="json")
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code


def test_the_detail_has_counts_per_state_and_every_delivery(operator_api, ops, dispatch):
    alert_id = raise_alert(operator_api, channels=["email"]).json()["id"]
    dispatch()
    body = operator_api.get(f"{URL}{alert_id}/").json()
    assert body["counts"] == {
        "pending": 0,
        "sending": 0,
        "sent": 2,
        "failed": 0,
        "cancelled": 0,
        "acknowledged": 0,
    }
    assert body["progress"]["percent"] == 100
    assert {d["state"] for d in body["deliveries"]} == {"sent"}
    assert all(d["attempts"] == 1 and d["provider_message_id"] for d in body["deliveries"])


def test_cancel_cancels_what_is_not_yet_sent(operator_api, ops):
    alert_id = raise_alert(operator_api).json()["id"]
    response = operator_api.post(f"{URL}{alert_id}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["counts"]["cancelled"] == 3
    again = operator_api.post(f"{URL}{alert_id}/cancel/")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "alert_closed"


def test_the_event_log_is_listed(operator_api, ops):
    alert_id = raise_alert(operator_api).json()["id"]
    operator_api.post(f"{URL}{alert_id}/cancel/")
    body = operator_api.get(f"{URL}{alert_id}/events/").json()
    assert [e["kind"] for e in body["results"]] == ["raised", "cancelled"]
    assert body["results"][1]["actor"] == "olivia"


def test_viewers_read_but_cannot_raise_or_cancel(viewer_api, operator_api, ops):
    alert_id = raise_alert(operator_api).json()["id"]
    assert viewer_api.get(URL).status_code == 200
    assert viewer_api.get(f"{URL}{alert_id}/").status_code == 200
    refused = raise_alert(viewer_api)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    assert viewer_api.post(f"{URL}{alert_id}/cancel/").status_code == 403


def test_anonymous_callers_get_401(anon_api, db):
    assert anon_api.get(URL).status_code == 401
    assert raise_alert(anon_api).status_code == 401


def test_viewers_see_webhook_hosts_but_not_their_secret_paths(
    viewer_api, operator_api, make_contact
):
    make_contact("Bot", webhook="http://127.0.0.1:9/hooks/T0KEN", groups=["bots"])
    alert_id = raise_alert(operator_api, groups=["bots"]).json()["id"]
    as_viewer = viewer_api.get(f"{URL}{alert_id}/").json()["deliveries"][0]["address"]
    as_operator = operator_api.get(f"{URL}{alert_id}/").json()["deliveries"][0]["address"]
    assert "T0KEN" not in as_viewer
    assert as_viewer.startswith("http://127.0.0.1:9/")
    assert as_operator.endswith("/hooks/T0KEN")


def test_the_module_api_root_lists_its_endpoints(viewer_api):
    body = viewer_api.get("/api/sos/").json()
    assert {"alerts", "contacts", "groups", "contact_methods", "webhook_schema"} <= set(
        body["endpoints"]
    )


def test_the_webhook_schema_is_served(viewer_api):
    body = viewer_api.get("/api/sos/webhook-schema/").json()
    assert body["$id"] == "portal.sos.alert/1"
