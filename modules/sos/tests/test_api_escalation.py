"""/api/sos/escalation-policies/, escalation_policy on alerts and groups, and the escalation
progress an alert's detail shows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from modules.sos import services
from modules.sos.models import Alert, EscalationPolicy, Group

URL = "/api/sos/escalation-policies/"
ALERTS = "/api/sos/alerts/"


@pytest.fixture
def groups(make_contact, receiver):
    make_contact("Ann", webhook=receiver.url("/ann"), groups=["ops"])
    make_contact("Cid", webhook=receiver.url("/cid"), groups=["leads"])
    return {g.name: g.pk for g in Group.objects.all()}


def night(groups, **extra):
    return {
        "name": "Night shift",
        "description": "Leads after 5 min, then everyone again",
        "steps": [
            {"groups": [groups["leads"]], "delay_min": 5, "repeat": 1},
            {"remind_recipients": True, "delay_min": 10, "stop_rule": "all_ack"},
        ],
        **extra,
    }


def test_an_operator_creates_a_policy_with_ordered_steps(operator_api, groups):
    response = operator_api.post(URL, night(groups), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Night shift"
    first, second = body["steps"]
    assert first == {
        "order": 1,
        "groups": [groups["leads"]],
        "contacts": [],
        "remind_recipients": False,
        "delay_min": 5,
        "repeat": 1,
        "stop_rule": "any_ack",
        "responses_needed": 1,
    }
    assert (second["order"], second["stop_rule"]) == (2, "all_ack")
    assert operator_api.get(f"{URL}{body['id']}/").json() == body


def test_viewers_read_policies_but_cannot_write_them(viewer_api, operator_api, groups):
    created = operator_api.post(URL, night(groups), format="json").json()
    assert viewer_api.get(URL).json()["results"][0]["name"] == "Night shift"
    assert viewer_api.post(URL, night(groups, name="Mine"), format="json").status_code == 403
    assert viewer_api.delete(f"{URL}{created['id']}/").status_code == 403


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"steps": []}, "steps"),
        ({"steps": [{"delay_min": 5}]}, "steps"),
        ({"steps": [{"remind_recipients": True, "repeat": 2}]}, "steps"),
        ({"steps": [{"remind_recipients": True, "stop_rule": "most"}]}, "steps"),
        ({"steps": [{"groups": [2**70]}]}, "steps"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_policies_are_400_naming_the_field(operator_api, groups, change, field):
    response = operator_api.post(URL, night(groups, **change), format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]["fields"]
    assert not EscalationPolicy.objects.exists()


def test_a_step_problem_names_the_steps_field(operator_api, groups):
    response = operator_api.post(
        URL, night(groups, steps=[{"remind_recipients": True, "repeat": 2}]), format="json"
    )
    assert response.json()["error"]["details"]["fields"]["steps"] == {
        "0": {"delay_min": ["A repeated step needs delay_min >= 1 (the time between repeats)."]}
    }


def test_a_policy_name_is_unique(operator_api, groups):
    operator_api.post(URL, night(groups), format="json")
    response = operator_api.post(URL, night(groups), format="json")
    assert response.status_code == 400
    assert "name" in response.json()["error"]["details"]["fields"]


def test_an_update_replaces_the_steps(operator_api, groups):
    created = operator_api.post(URL, night(groups), format="json").json()
    response = operator_api.patch(
        f"{URL}{created['id']}/",
        {"steps": [{"groups": [groups["ops"]], "stop_rule": "responses", "responses_needed": 3}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    (step,) = response.json()["steps"]
    assert (step["groups"], step["responses_needed"]) == ([groups["ops"]], 3)


def test_an_alert_names_its_policy_and_its_detail_shows_the_progress(
    operator_api, groups, dispatch
):
    policy = operator_api.post(URL, night(groups), format="json").json()
    response = operator_api.post(
        ALERTS, {"message": "Fire", "groups": ["ops"], "escalation_policy": "night shift"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["escalation_policy"] == "Night shift"
    assert body["require_ack"] is True
    progress = body["escalation"]
    assert progress["policy"] == {"id": policy["id"], "name": "Night shift"}
    assert (progress["status"], progress["step"], progress["steps"]) == ("active", 1, 2)
    assert (progress["steps_done"], progress["wave"], progress["waves"]) == (0, 0, 2)

    dispatch(now=timezone.now() + timedelta(minutes=5, seconds=5))
    detail = operator_api.get(f"{ALERTS}{body['id']}/").json()
    assert detail["escalation"]["wave"] == 1
    assert [d["step"] for d in detail["deliveries"] if d["contact_name"] == "Cid"] == [1]
    events = operator_api.get(f"{ALERTS}{body['id']}/events/").json()["results"]
    assert any(e["kind"] == "escalated" and "Cid" in e["message"] for e in events)

    by_id = operator_api.post(
        ALERTS, {"message": "Fire", "groups": ["ops"], "escalation_policy": str(policy["id"])}
    )
    assert by_id.json()["escalation"]["policy"]["id"] == policy["id"]


def test_an_alert_without_a_policy_shows_no_escalation(operator_api, groups):
    body = operator_api.post(ALERTS, {"message": "Fire", "groups": ["ops"]}).json()
    assert body["escalation"] is None
    assert body["escalation_policy"] is None


@pytest.mark.parametrize(
    "extra",
    [
        {"escalation_policy": "nope"},
        {"escalation_policy": "night shift", "require_ack": True, "reminder_max": 2},
    ],
)
def test_a_bad_policy_on_an_alert_is_400_naming_the_field(operator_api, groups, extra):
    operator_api.post(URL, night(groups), format="json")
    response = operator_api.post(
        ALERTS, {"message": "Fire", "groups": ["ops"], **extra}, format="json"
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["field"] == "escalation_policy"
    assert not Alert.objects.exists()


def test_a_group_default_policy_is_set_through_the_api(operator_api, groups):
    policy = operator_api.post(URL, night(groups), format="json").json()
    response = operator_api.patch(
        f"/api/sos/groups/{groups['ops']}/", {"escalation_policy": policy["id"]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["escalation_policy"] == policy["id"]
    alert = operator_api.post(ALERTS, {"message": "Fire", "groups": ["ops"]}).json()
    assert alert["escalation_policy"] == "Night shift"

    cleared = operator_api.patch(
        f"/api/sos/groups/{groups['ops']}/", {"escalation_policy": None}, format="json"
    )
    assert cleared.json()["escalation_policy"] is None


def test_a_policy_in_use_by_an_open_alert_cannot_be_deleted(operator_api, groups):
    policy = operator_api.post(URL, night(groups), format="json").json()
    alert = services.alert_raise(message="Fire", groups=["ops"], escalation_policy="Night shift")
    response = operator_api.delete(f"{URL}{policy['id']}/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "policy_in_use"
    assert response.json()["error"]["details"]["alerts"] == [alert.alert.pk]

    services.alert_resolve(alert=alert.alert)
    assert operator_api.delete(f"{URL}{policy['id']}/").status_code == 204
    detail = operator_api.get(f"{ALERTS}{alert.alert.pk}/").json()
    assert detail["escalation"]["policy"] is None


def test_the_schema_documents_policies_with_every_status(operator_api):
    schema = operator_api.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    detail = paths["/api/sos/escalation-policies/{id}/"]
    assert "409" in detail["delete"]["responses"]
    assert {"201", "400", "401", "403"} <= set(
        paths["/api/sos/escalation-policies/"]["post"]["responses"]
    )
    components = schema["components"]["schemas"]
    assert "escalation" in components["SosAlertDetail"]["properties"]
    assert "escalation_policy" in components["SosAlertCreateRequest"]["properties"]
    assert "escalation_policy" in components["SosGroup"]["properties"]


def test_an_operator_picks_a_policy_on_the_form_and_the_page_shows_its_progress(
    operator, operator_api, groups, dispatch
):
    from django.test import Client

    from portal.test import PASSWORD

    operator_api.post(URL, night(groups), format="json")
    client = Client()
    assert client.login(username=operator.username, password=PASSWORD)
    assert "Or follow an escalation policy" in client.get("/sos/").content.decode()
    response = client.post(
        "/sos/",
        {
            "message": "Fire",
            "severity": "critical",
            "groups": [groups["ops"]],
            "require_ack": "on",
            "reminder_interval_min": "10",  # the form fills these in; the policy replaces them
            "reminder_max": "3",
            "escalation_policy": EscalationPolicy.objects.get().pk,
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    alert = Alert.objects.get()
    assert (alert.escalation_policy.name, alert.reminder_max) == ("Night shift", 0)
    page = client.get(f"/sos/alerts/{alert.pk}/").content.decode()
    assert "Escalation policy <strong>Night shift</strong>:" in page
    assert "step 1 of 2, wave 1 of 2 due" in page
    assert "reminder every" not in page

    dispatch(now=timezone.now() + timedelta(minutes=5, seconds=5))
    live = client.get(f"/sos/alerts/{alert.pk}/live/").content.decode()
    assert "step 1 of 2, wave 2 of 2 due" in live
    services.alert_resolve(alert=alert)
    live = client.get(f"/sos/alerts/{alert.pk}/live/").content.decode()
    assert "stopped: the alert is resolved" in live


def test_staff_edit_a_policy_with_its_steps_inline_in_the_admin(groups):
    from django.test import Client

    from portal.test import PASSWORD, make_user

    make_user("root", role=None, is_staff=True, is_superuser=True)
    admin = Client()
    assert admin.login(username="root", password=PASSWORD)
    assert admin.get("/admin/sos/escalationpolicy/add/").status_code == 200
    form = {
        "name": "Admin policy",
        "description": "",
        "steps-TOTAL_FORMS": "1",
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "1",
        "steps-MAX_NUM_FORMS": "1000",
        "steps-0-order": "1",
        "steps-0-groups": [groups["leads"]],
        "steps-0-delay_min": "0",
        "steps-0-repeat": "2",
        "steps-0-stop_rule": "any_ack",
        "steps-0-responses_needed": "1",
    }
    refused = admin.post("/admin/sos/escalationpolicy/add/", form)
    assert refused.status_code == 200
    assert "A repeated step needs delay_min" in refused.content.decode()
    saved = admin.post("/admin/sos/escalationpolicy/add/", {**form, "steps-0-delay_min": "5"})
    assert saved.status_code == 302
    step = EscalationPolicy.objects.get(name="Admin policy").steps.get()
    assert (step.repeat, list(step.groups.values_list("name", flat=True))) == (2, ["leads"])
    assert admin.get("/admin/sos/escalationpolicy/", {"q": "admin"}).status_code == 200
