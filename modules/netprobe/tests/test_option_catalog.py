"""Probe options are declared once, in the kinds' dataclasses: the API schema, the UI form, the
CLI and the admin expose exactly those options."""

from __future__ import annotations

import dataclasses
from argparse import ArgumentParser

import pytest
from django.contrib.auth.models import User

from modules.netprobe.forms import fieldsets, monitor_admin_form
from modules.netprobe.management.commands.netprobe import Command
from modules.netprobe.models import Monitor
from modules.netprobe.probes import KINDS, get_kind
from modules.netprobe.probes.catalog import kind_options, options_by_name
from modules.netprobe.serializers import ProbeRequestSerializer

pytestmark = pytest.mark.usefixtures("np_settings")


def dataclass_options(kind: str) -> list[str]:
    return [f.name for f in dataclasses.fields(get_kind(kind).options)]


def every_option() -> set[str]:
    return {name for kind in KINDS for name in dataclass_options(kind)}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_option_has_a_label_and_a_help_text(kind):
    options = kind_options(kind)

    assert [o.name for o in options] == dataclass_options(kind)
    assert all(o.label and o.help for o in options)


def test_the_api_request_documents_every_option_and_no_other():
    fields = set(ProbeRequestSerializer().fields)

    assert fields - {"kind", "target", "locations"} == every_option()


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_ui_form_shows_the_options_of_each_kind(kind):
    (chosen,) = [s for s in fieldsets(kind=kind) if s["kind"] == kind]

    assert [f["name"] for f in chosen["fields"]] == [f"{kind}-{n}" for n in dataclass_options(kind)]


def test_the_cli_has_a_flag_for_every_option():
    parser = ArgumentParser()
    Command().add_arguments(parser)
    dests = {a.dest for a in parser._actions}

    assert {f"opt_{name}" for name in every_option()} <= dests
    flags = {info.flag for infos in options_by_name().values() for info in infos}
    assert {"--no-follow", "--insecure", "--dnssec", "--record-type"} <= flags


def test_the_admin_form_has_a_field_for_every_option_of_every_kind():
    fields = set(monitor_admin_form().base_fields)

    for kind in KINDS:
        assert {f"{kind}-{n}" for n in dataclass_options(kind)} <= fields
    assert "options" not in fields


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def admin_data(**extra):
    data = {
        "name": "Loopback",
        "kind": "tcp",
        "target": "127.0.0.1:443",
        "interval_s": "60",
        "failure_threshold": "3",
        "recovery_threshold": "1",
        "enabled": "on",
        "tcp-count": "2",
        "http-follow_redirects": "on",
        "transitions-TOTAL_FORMS": "0",  # the read-only transitions inline
        "transitions-INITIAL_FORMS": "0",
    }
    return {**data, **extra}


@pytest.mark.django_db
def test_the_admin_edits_monitor_options_field_by_field(admin_client):
    created = admin_client.post("/admin/netprobe/monitor/add/", admin_data())
    monitor = Monitor.objects.get()
    page = admin_client.get(f"/admin/netprobe/monitor/{monitor.pk}/change/").content.decode()

    assert created.status_code == 302
    assert monitor.options == {"count": 2}  # typed, only what differs from the defaults
    assert (monitor.state, monitor.next_run_at is not None) == ("unknown", True)
    assert 'name="tcp-count" value="2"' in page


@pytest.mark.django_db
def test_the_admin_refuses_invalid_options_by_the_engine_rules(admin_client):
    response = admin_client.post("/admin/netprobe/monitor/add/", admin_data(**{"tcp-count": "99"}))

    assert response.status_code == 200
    assert "must be between 1 and 16" in response.content.decode()
    assert not Monitor.objects.exists()


@pytest.mark.django_db
def test_changing_options_in_the_admin_goes_through_the_services(admin_client):
    admin_client.post("/admin/netprobe/monitor/add/", admin_data())
    monitor = Monitor.objects.get()
    Monitor.objects.filter(pk=monitor.pk).update(state="up")

    changed = admin_client.post(
        f"/admin/netprobe/monitor/{monitor.pk}/change/", admin_data(**{"tcp-count": "3"})
    )

    assert changed.status_code == 302
    monitor.refresh_from_db()
    assert monitor.options == {"count": 3}
    # A new probe spec starts afresh, recorded as a transition, as monitor_update does.
    assert monitor.state == "unknown"
    assert monitor.transitions.get().reason == "probe changed"
