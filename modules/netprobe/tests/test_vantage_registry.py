"""Keeping the vantage registry consistent with the monitors that name vantages, and checking
many vantages at once. Peers: fake vantages on loopback (fakevantage.py)."""

from __future__ import annotations

import time

import pytest

from modules.netprobe import services
from modules.netprobe.models import Monitor, Vantage

from .fakevantage import FakeVantage
from .vantages import new_secret

pytestmark = [pytest.mark.usefixtures("np_settings"), pytest.mark.django_db]

VANTAGES = "/api/netprobe/vantages/"


@pytest.fixture
def root_client(client):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def named_by_a_monitor() -> Vantage:
    vantage = Vantage.objects.create(
        name="eu", region="eu", url="http://127.0.0.2:9", secret=new_secret()
    )
    services.monitor_create(
        name="shop", kind="tcp", target="127.0.0.1:9", locations=["local", "eu"]
    )
    return vantage


def test_a_vantage_a_monitor_names_cannot_be_renamed_or_deleted(operator_api):
    vantage = named_by_a_monitor()

    renamed = operator_api.patch(f"{VANTAGES}{vantage.pk}/", {"name": "eu2"}, format="json")
    deleted = operator_api.delete(f"{VANTAGES}{vantage.pk}/")

    for response in (renamed, deleted):
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "vantage_in_use"
        assert error["details"]["monitors"] == ["shop"]
    assert Vantage.objects.get().name == "eu"
    # Disabling stays possible, and another field changes as ever.
    changed = operator_api.patch(
        f"{VANTAGES}{vantage.pk}/", {"enabled": False, "region": "eu-west-1"}, format="json"
    )
    assert changed.status_code == 200, changed.json()


def test_a_vantage_no_monitor_names_is_renamed_and_deleted(operator_api):
    vantage = named_by_a_monitor()
    Monitor.objects.all().delete()

    assert operator_api.patch(f"{VANTAGES}{vantage.pk}/", {"name": "eu2"}).status_code == 200
    assert operator_api.delete(f"{VANTAGES}{vantage.pk}/").status_code == 204
    assert not Vantage.objects.exists()


def test_the_admin_offers_no_delete_and_refuses_a_rename_while_monitors_name_it(root_client):
    vantage = named_by_a_monitor()

    page = root_client.get(f"/admin/netprobe/vantage/{vantage.pk}/delete/")
    renamed = root_client.post(
        f"/admin/netprobe/vantage/{vantage.pk}/change/",
        {"name": "eu2", "region": "eu", "url": vantage.url, "secret": "", "enabled": "on"},
    )

    assert page.status_code == 403
    assert renamed.status_code == 200
    assert "vantage_in_use" not in renamed.content.decode()
    assert "1 monitor(s) name it" in renamed.content.decode()
    assert Vantage.objects.get().name == "eu"


def test_checking_several_vantages_in_the_admin_checks_them_at_once(root_client):
    with FakeVantage() as one, FakeVantage() as two, FakeVantage() as three:
        for index, fake in enumerate((one, two, three)):
            fake.delay_s = 1.0
            Vantage.objects.create(name=f"v{index}", url=fake.url, secret=fake.secret)

        t0 = time.monotonic()
        checked = root_client.post(
            "/admin/netprobe/vantage/",
            {
                "action": "check_now",
                "_selected_action": list(Vantage.objects.values_list("pk", flat=True)),
            },
            follow=True,
        )
        elapsed = time.monotonic() - t0

    assert checked.status_code == 200
    assert elapsed < 2.5  # one after the other: 3 s
    assert list(Vantage.objects.values_list("last_check_ok", flat=True)) == [True] * 3
    # The request id travels in the signed body, not in a query string a proxy may re-encode.
    assert one.paths == ["/vantage/v1/health"]
    assert len(one.requests[0]["request_id"]) >= 16


def test_a_vantage_outside_the_opened_networks_must_be_reached_over_https(operator_api):
    def register(url: str):
        payload = {"name": f"v{len(url)}", "url": url, "secret": new_secret()}
        return operator_api.post(VANTAGES, payload, format="json")

    plain = register("http://93.184.216.34:8080")  # a public address: nothing opened it
    tls = register("https://93.184.216.34:8443")
    inside = register("http://127.0.0.2:8001")  # loopback is in EGRESS_ALLOWED_NETWORKS here

    assert plain.status_code == 400
    assert "https" in plain.json()["error"]["details"]["fields"]["url"][0]
    assert (tls.status_code, inside.status_code) == (201, 201)
