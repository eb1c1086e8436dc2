"""Certificate expiry: TLS and HTTPS monitors warn through SOS once per crossing, against real
certificate chains served on loopback."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.utils import timezone

from modules.netprobe import services
from modules.netprobe.models import Monitor

from .httpserver import LoopbackHTTPServer
from .pki import LOOPBACK_SANS, _pem, make_cert
from .test_monitors import sos_group

pytestmark = pytest.mark.django_db


@dataclass
class Chain:
    """root -> intermediate -> leaf; the server presents leaf + intermediate."""

    ca_file: Path
    chain_file: Path
    key_file: Path
    intermediate_expiry: datetime


def make_chain(directory: Path, label: str, *, intermediate_days: int, leaf_days: int) -> Chain:
    from cryptography.hazmat.primitives import serialization

    now = datetime.now(UTC).replace(microsecond=0)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = make_cert(f"{label} Root", root_key, is_ca=True, not_after=now + timedelta(days=3650))
    mid_key = ec.generate_private_key(ec.SECP256R1())
    intermediate_expiry = now + timedelta(days=intermediate_days)
    mid = make_cert(
        f"{label} Intermediate",
        mid_key,
        issuer=(root, root_key),
        is_ca=True,
        not_after=intermediate_expiry,
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = make_cert(
        "localhost",
        leaf_key,
        issuer=(mid, mid_key),
        sans=LOOPBACK_SANS,
        not_after=now + timedelta(days=leaf_days),
    )
    chain = Chain(
        directory / f"{label}-ca.pem",
        directory / f"{label}-chain.pem",
        directory / f"{label}-key.pem",
        intermediate_expiry,
    )
    chain.ca_file.write_bytes(_pem(root))
    chain.chain_file.write_bytes(_pem(leaf) + _pem(mid))
    chain.key_file.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return chain


class Served:
    """An HTTPS server whose certificate chain can be swapped (a renewal) while it runs."""

    def __init__(self, server: LoopbackHTTPServer, context: ssl.SSLContext) -> None:
        self.server, self.context = server, context

    def present(self, chain: Chain) -> None:
        self.context.load_cert_chain(chain.chain_file, chain.key_file)


@pytest.fixture
def chains(tmp_path: Path) -> dict[str, Chain]:
    return {
        "soon": make_chain(tmp_path, "soon", intermediate_days=10, leaf_days=90),
        "renewed": make_chain(tmp_path, "renewed", intermediate_days=400, leaf_days=90),
        "soon-again": make_chain(tmp_path, "again", intermediate_days=9, leaf_days=90),
    }


@pytest.fixture
def served(chains: dict[str, Chain], settings, tmp_path: Path) -> Iterator[Served]:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(b"".join(c.ca_file.read_bytes() for c in chains.values()))
    settings.NETPROBE_CA_BUNDLE = str(bundle)
    settings.EGRESS_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.SOS_WAKE = "none"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chains["soon"].chain_file, chains["soon"].key_file)
    with LoopbackHTTPServer(tls=context) as server:
        yield Served(server, context)


def certificate_alerts(m: Monitor) -> list:
    from modules.sos.models import Alert

    return list(Alert.objects.filter(dedup_key=f"{m.dedup_key}-certificate").order_by("pk"))


def rounds(count: int, start: datetime, interval_s: int = 30) -> Iterator[tuple[datetime, int]]:
    """Run the due monitors `count` times, one interval apart; yields (now, warnings)."""
    for i in range(count):
        now = start + timedelta(seconds=(interval_s + 1) * i)
        summary = services.monitor_run_due(now=now)
        assert summary.ran == 1, summary
        yield now, summary.cert_warnings


def test_a_chain_certificate_expiring_in_10_days_warns_once_across_rounds(served, chains):
    from modules.sos.services import alert_resolve

    m = services.monitor_create(
        name="edge tls",
        kind="tls",
        target=f"localhost:{served.server.port}",
        interval_s=30,
        sos_group=sos_group(),
    )
    start = timezone.now()

    warnings = [w for _, w in rounds(1, start)]
    # A person closes the warning: the next rounds must not page again for the same expiry.
    alert_resolve(alert=certificate_alerts(m)[0], note="seen")
    warnings += [w for _, w in rounds(3, start + timedelta(seconds=31))]

    assert warnings == [1, 0, 0, 0]
    [alert] = certificate_alerts(m)
    assert alert.severity == "warning"
    assert "chain certificate #2 'soon Intermediate'" in alert.message
    assert "9 day(s) left" in alert.message
    m.refresh_from_db()
    assert m.cert_warned_expiry == chains["soon"].intermediate_expiry


def test_a_renewed_certificate_rearms_the_warning(served, chains):
    m = services.monitor_create(
        name="shop https",
        kind="http",
        target=f"https://localhost:{served.server.port}/",
        interval_s=30,
        sos_group=sos_group(),
    )
    start = timezone.now()
    first = [w for _, w in rounds(2, start)]

    served.present(chains["renewed"])
    renewed = [w for _, w in rounds(3, start + timedelta(minutes=5))]
    m.refresh_from_db()
    warned_after_renewal = m.cert_warned_expiry

    served.present(chains["soon-again"])
    again = [w for _, w in rounds(2, start + timedelta(minutes=10))]

    assert (first, renewed, again) == ([1, 0], [0, 0, 0], [1, 0])
    assert warned_after_renewal is None
    alerts = certificate_alerts(m)
    assert [a.status for a in alerts] == ["resolved", "open"]  # the renewal closed the first
    assert "'again Intermediate'" in alerts[1].message
    m.refresh_from_db()
    assert m.last_result.result["tls"]["chain"][1]["subject_cn"] == "again Intermediate"


def test_a_load_balancer_mixing_old_and_renewed_certificates_warns_once(served, chains):
    m = services.monitor_create(
        name="balanced",
        kind="tls",
        target=f"localhost:{served.server.port}",
        interval_s=30,
        sos_group=sos_group(),
    )
    start = timezone.now()
    warnings = []
    for i in range(6):  # the backends answer in turn: old, renewed, old, renewed ...
        served.present(chains["soon" if i % 2 == 0 else "renewed"])
        warnings += [w for _, w in rounds(1, start + timedelta(seconds=31 * i))]
    flapping = [a.status for a in certificate_alerts(m)]

    served.present(chains["renewed"])  # the old backend is gone
    settled = [w for _, w in rounds(3, start + timedelta(minutes=5))]

    assert warnings == [1, 0, 0, 0, 0, 0]
    assert flapping == ["open"]
    assert settled == [0, 0, 0]
    assert [a.status for a in certificate_alerts(m)] == ["resolved"]
    m.refresh_from_db()
    assert m.cert_warned_expiry is None


def test_a_monitor_paused_while_its_probe_ran_does_not_warn(served):
    from modules.netprobe.certexpiry import cert_expiry_check

    m = services.monitor_create(
        name="edge tls",
        kind="tls",
        target=f"localhost:{served.server.port}",
        interval_s=30,
        cert_expiry_days=0,
        sos_group=sos_group(),
    )
    [(now, _)] = list(rounds(1, timezone.now()))
    running = Monitor.objects.get(pk=m.pk)  # as the runner loaded it, before the pause
    running.cert_expiry_days = 14
    Monitor.objects.filter(pk=m.pk).update(cert_expiry_days=14)
    services.monitor_pause(monitor=Monitor.objects.get(pk=m.pk))

    warned = cert_expiry_check(monitor=running, result=running.last_result, now=now)

    assert warned is False
    assert certificate_alerts(m) == []


def test_the_window_is_per_monitor_and_zero_turns_it_off(served, chains):
    group = sos_group()
    fields = {"kind": "tls", "target": f"localhost:{served.server.port}", "sos_group": group}
    short = services.monitor_create(name="short", cert_expiry_days=7, **fields)
    off = services.monitor_create(name="off", cert_expiry_days=0, **fields)
    default = services.monitor_create(name="default", **fields)

    summary = services.monitor_run_due(now=timezone.now())

    assert summary.ran == 3
    assert summary.cert_warnings == 1
    assert default.cert_expiry_days == 14
    assert [len(certificate_alerts(m)) for m in (short, off, default)] == [0, 0, 1]


def test_the_api_edits_the_warning_window(operator_api, served):
    body = {
        "name": "api tls",
        "kind": "tls",
        "target": f"localhost:{served.server.port}",
        "interval_s": 60,
    }
    created = operator_api.post("/api/netprobe/monitors/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["cert_expiry_days"] == 14
    url = f"/api/netprobe/monitors/{created.json()['id']}/"

    changed = operator_api.patch(url, {"cert_expiry_days": 30}, format="json")
    bad = operator_api.patch(url, {"cert_expiry_days": -1}, format="json")

    assert changed.status_code == 200
    assert changed.json()["cert_expiry_days"] == 30
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "validation_error"
    assert "cert_expiry_days" in bad.json()["error"]["details"]["fields"]


def test_maintenance_delays_the_warning_until_the_window_ends(served):
    from modules.netprobe.status_models import MaintenanceWindow

    m = services.monitor_create(
        name="edge tls",
        kind="tls",
        target=f"localhost:{served.server.port}",
        interval_s=30,
        sos_group=sos_group(),
    )
    start = timezone.now()
    window = MaintenanceWindow.objects.create(
        title="CA rollover",
        starts_at=start - timedelta(minutes=1),
        ends_at=start + timedelta(seconds=45),
    )
    window.monitors.add(m)

    during = [w for _, w in rounds(1, start)]
    after = [w for _, w in rounds(2, start + timedelta(seconds=60))]

    assert (during, after) == ([0], [1, 0])
    assert len(certificate_alerts(m)) == 1


def test_the_monitor_form_and_the_admin_edit_the_warning_window(
    client, operator, admin_client, served
):
    client.force_login(operator)
    data = {
        "name": "form tls",
        "kind": "tls",
        "target": f"localhost:{served.server.port}",
        "interval_s": "60",
        "failure_threshold": "2",
        "recovery_threshold": "1",
        "enabled": "on",
    }

    form = client.get("/netprobe/monitors/new/").content.decode()
    created = client.post("/netprobe/monitors/new/", {**data, "cert_expiry_days": "30"})
    m = Monitor.objects.get()
    left_empty = client.post(f"/netprobe/monitors/{m.pk}/edit/", data)
    m.refresh_from_db()
    kept = m.cert_expiry_days
    admin_form = admin_client.get(f"/admin/netprobe/monitor/{m.pk}/change/").content.decode()

    assert 'name="cert_expiry_days"' in form
    assert created.status_code == 302
    assert left_empty.status_code == 302
    assert kept == 30
    assert 'name="cert_expiry_days" value="30"' in admin_form
