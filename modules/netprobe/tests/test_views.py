"""The operator UI: pages for each role, running probes from the form, results as people read
them, history filters, monitors, the dashboard card and the admin. No inline script or style."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User

from modules.netprobe.models import Monitor, ProbeResult
from modules.netprobe.views import card_context

from .servers import TcpListener
from .support import make_result

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("np_settings")]


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


def html(response) -> str:
    page = response.content.decode()
    # The CSP forbids inline code: every script is loaded from a file, nothing carries style="".
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "inline <script>"
    assert "style=" not in page
    assert "<style" not in page
    return page


def test_operators_get_the_probe_form_with_a_fieldset_per_kind(operator_client):
    page = html(operator_client.get("/netprobe/"))

    assert 'id="probe-form"' in page
    for kind in ("http", "dns", "tcp", "tls", "ping", "traceroute"):
        assert f'data-kind="{kind}"' in page
    assert 'name="http-follow_redirects"' in page
    assert "netprobe.js" in page


def test_viewers_see_results_but_no_form(viewer_client):
    make_result(target="shown.example:443")

    page = html(viewer_client.get("/netprobe/"))

    assert 'id="probe-form"' not in page
    assert "shown.example:443" in page


def test_an_operator_runs_an_http_probe_and_reads_the_waterfall(operator_client, http_server):
    response = operator_client.post(
        "/netprobe/run/",
        {
            "kind": "http",
            "target": f"{http_server.url}/redirect/1",
            "http-method": "GET",
            "http-follow_redirects": "on",
            "http-verify_tls": "on",
            "http-timeout": "4",
        },
    )

    row = ProbeResult.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/netprobe/results/{row.pk}/"
    assert row.options == {"timeout": 4.0}
    page = html(operator_client.get(response["Location"]))
    assert 'id="waterfall"' in page
    for phase in ("dns", "connect", "ttfb", "download"):
        assert f'class="np-phase np-phase-{phase}"' in page
    assert 'id="redirect-chain"' in page
    assert "end of the redirect chain" in page


def test_met_expectations_show_as_passed_and_nothing_else_as_failed(operator_client, http_server):
    response = operator_client.post(
        "/netprobe/run/",
        {"kind": "http", "target": f"{http_server.url}/", "http-keyword": "netprobe"},
    )
    page = html(operator_client.get(response["Location"]))
    badges = re.findall(r'<span class="badge badge-(\w+)">(\w+): (\w+)</span>', page)
    assert ("ok", "keyword", "pass") in badges
    assert [b for b in badges if b[0] == "failed"] == []
    assert "matched on its first" in page


def test_unchecked_boxes_turn_options_off(operator_client, http_server):
    operator_client.post(
        "/netprobe/run/", {"kind": "http", "target": f"{http_server.url}/redirect/1"}
    )

    row = ProbeResult.objects.get()
    assert row.options == {"follow_redirects": False, "verify_tls": False}
    assert row.result["status_code"] == 302


def test_invalid_options_come_back_with_their_error(operator_client):
    response = operator_client.post(
        "/netprobe/run/", {"kind": "tcp", "target": "example.com:443", "tcp-count": "99"}
    )

    assert response.status_code == 400
    page = html(response)
    assert "must be between 1 and 16" in page
    assert 'value="99"' in page
    assert not ProbeResult.objects.exists()


def test_a_refused_target_is_explained(operator_client, settings):
    settings.EGRESS_ALLOWED_NETWORKS = []

    response = operator_client.post("/netprobe/run/", {"kind": "tcp", "target": "127.0.0.1:80"})

    assert response.status_code == 400
    assert "Refused by the egress policy" in html(response)


def test_viewers_cannot_run_probes_or_edit_monitors(viewer_client):
    monitor = Monitor.objects.create(name="m", kind="tcp", target="example.com:443")

    with TcpListener() as listener:
        run = viewer_client.post("/netprobe/run/", {"kind": "tcp", "target": listener.target})
        assert run.status_code == 403
        assert listener.accepted == 0
    assert viewer_client.get("/netprobe/monitors/new/").status_code == 403
    assert viewer_client.get(f"/netprobe/monitors/{monitor.pk}/edit/").status_code == 403
    assert viewer_client.post(f"/netprobe/monitors/{monitor.pk}/delete/").status_code == 403
    assert Monitor.objects.filter(pk=monitor.pk).exists()
    assert not ProbeResult.objects.exists()


def test_the_tls_result_highlights_the_days_left(operator_client, https_expired, https_server):
    operator_client.post(
        "/netprobe/run/",
        {"kind": "tls", "target": f"127.0.0.1:{https_server.port}", "tls-verify_tls": "on"},
    )
    operator_client.post(
        "/netprobe/run/",
        {"kind": "tls", "target": f"127.0.0.1:{https_expired.port}", "tls-verify_tls": "on"},
    )
    good, expired = ProbeResult.objects.order_by("id")

    good_page = html(operator_client.get(f"/netprobe/results/{good.pk}/"))
    expired_page = html(operator_client.get(f"/netprobe/results/{expired.pk}/"))

    assert 'class="np-days np-tone-ok"' in good_page
    assert "days left" in good_page
    assert "Chain as presented" in good_page
    assert 'class="np-days np-tone-down"' in expired_page
    assert "Expired 2 days ago" in expired_page


def test_tcp_and_dns_results_are_tables(operator_client, tcp_listener, dns_server):
    operator_client.post(
        "/netprobe/run/",
        {"kind": "tcp", "target": tcp_listener.target, "tcp-count": "2", "tcp-interval": "0.05"},
    )
    operator_client.post(
        "/netprobe/run/",
        {
            "kind": "dns",
            "target": "netprobe.test",
            "dns-record_type": "TXT",
            "dns-resolver": dns_server.address,
        },
    )
    tcp, dns = ProbeResult.objects.order_by("id")

    tcp_page = html(operator_client.get(f"/netprobe/results/{tcp.pk}/"))
    dns_page = html(operator_client.get(f"/netprobe/results/{dns.pk}/"))

    assert 'id="attempts"' in tcp_page
    assert '<dd id="loss">0.0 %</dd>' in tcp_page
    assert 'id="answers"' in dns_page
    assert "v=spf1 -all" in dns_page


def test_an_unsupported_ping_offers_a_tcp_ping(operator_client):
    row = make_result(
        kind="ping",
        target="example.com",
        status="failed",
        error_code="unsupported",
        error_message="ICMP is not permitted",
        result={"suggestion": "tcp"},
    )

    page = html(operator_client.get(f"/netprobe/results/{row.pk}/"))

    assert 'id="tcp-offer"' in page
    assert 'name="kind" value="tcp"' in page
    assert 'name="tcp-port" value="443"' in page


def test_traceroute_hops_render(viewer_client):
    row = make_result(
        kind="traceroute",
        target="example.com",
        result={
            "destination": "93.184.216.34",
            "reached": True,
            "stopped": None,
            "max_hops": 30,
            "hops": [{"distance": 1, "address": "10.0.0.1", "name": "gw", "rtts_ms": [1.5, None]}],
        },
    )

    page = html(viewer_client.get(f"/netprobe/results/{row.pk}/"))

    assert 'id="hops"' in page
    assert "1.50 ms · *" in page


def test_history_filters(viewer_client):
    make_result(kind="tcp", target="alpha.example:22", status="failed")
    make_result(kind="http", target="https://beta.example/")
    make_result(kind="dns", target="gamma.example", ago=timedelta(days=3))

    def shown(query: str) -> set[str]:
        page = html(viewer_client.get(f"/netprobe/history/?{query}"))
        return {t for t in ("alpha", "beta", "gamma") if f"{t}.example" in page}

    assert shown("") == {"alpha", "beta", "gamma"}
    assert shown("kind=http") == {"beta"}
    assert shown("status=failed") == {"alpha"}
    assert shown("q=gamma") == {"gamma"}
    assert shown("since=2000-01-01T00:00&kind=dns") == {"gamma"}
    assert shown("until=2000-01-01T00:00") == set()


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("since=2024-13-01T00:00", "not a valid date and time"),
        ("until=2024-02-30T00:00", "not a valid date and time"),
        ("q=alpha%00", "must not contain NUL characters"),
    ],
)
def test_a_bad_history_filter_is_ignored_with_a_message(viewer_client, query, why):
    make_result(kind="tcp", target="alpha.example:22")
    make_result(kind="http", target="https://beta.example/")

    response = viewer_client.get(f"/netprobe/history/?{query}")

    assert response.status_code == 200
    page = html(response)
    assert "alpha.example" in page
    assert "beta.example" in page
    assert why in page


@pytest.mark.parametrize("path", ["results", "monitors"])
def test_huge_ids_in_pages_are_not_found(viewer_client, path):
    for pk in (2**63 - 1, "99999999999999999999999"):
        assert viewer_client.get(f"/netprobe/{path}/{pk}/").status_code == 404


def test_a_nul_character_in_the_target_comes_back_as_its_error(operator_client, http_server):
    response = operator_client.post(
        "/netprobe/run/", {"kind": "http", "target": f"{http_server.url}/a\x00b"}
    )

    assert response.status_code == 400
    assert "must not contain control characters" in html(response)
    assert not ProbeResult.objects.exists()


def test_a_nul_character_in_an_option_comes_back_as_its_error(operator_client, http_server):
    response = operator_client.post(
        "/netprobe/run/",
        {"kind": "http", "target": f"{http_server.url}/", "http-keyword": "a\x00b"},
    )

    assert response.status_code == 400
    assert "must not contain NUL characters" in html(response)
    assert not ProbeResult.objects.exists()


def test_monitors_show_badges_uptime_and_charts(viewer_client):
    monitor = Monitor.objects.create(
        name="Shop", kind="tcp", target="shop.example:443", state="down"
    )
    for i in range(5):
        make_result(monitor=monitor, status="failed" if i == 2 else "ok", ago=timedelta(minutes=i))

    listing = html(viewer_client.get("/netprobe/monitors/"))
    detail = html(viewer_client.get(f"/netprobe/monitors/{monitor.pk}/?window=7d"))

    assert 'class="badge badge-down"' in listing
    assert "80.00 %" in listing
    assert '<polyline class="np-line"' in listing
    assert 'class="np-fail"' in detail
    assert "Uptime 30d" in detail
    assert 'id="new-monitor"' not in listing


def test_operators_create_edit_and_delete_monitors(operator_client, tcp_listener):
    data = {
        "name": "Loopback",
        "kind": "tcp",
        "target": tcp_listener.target,
        "interval_s": "60",
        "failure_threshold": "2",
        "recovery_threshold": "1",
        "enabled": "on",
        "tcp-count": "1",
    }
    created = operator_client.post("/netprobe/monitors/new/", data)
    monitor = Monitor.objects.get()
    edited = operator_client.post(
        f"/netprobe/monitors/{monitor.pk}/edit/", {**data, "interval_s": "120", "tcp-count": "3"}
    )
    bad = operator_client.post(
        f"/netprobe/monitors/{monitor.pk}/edit/", {**data, "interval_s": "5", "tcp-count": "300"}
    )
    form = html(operator_client.get(f"/netprobe/monitors/{monitor.pk}/edit/"))

    assert created.status_code == 302
    assert edited.status_code == 302
    monitor.refresh_from_db()
    assert (monitor.interval_s, monitor.options, monitor.state) == (120, {"count": 3}, "unknown")
    assert bad.status_code == 400
    assert "greater than or equal to 30" in bad.content.decode()
    assert 'name="tcp-count" value="3"' in form
    deleted = operator_client.post(f"/netprobe/monitors/{monitor.pk}/delete/")
    assert deleted.status_code == 302
    assert not Monitor.objects.exists()


def test_the_dashboard_card_counts_probes_and_monitors(rf, viewer_client):
    make_result(status="failed")
    make_result(ago=timedelta(days=2))
    Monitor.objects.create(name="a", kind="tcp", target="a.example:1", state="up")
    Monitor.objects.create(name="b", kind="tcp", target="b.example:1", state="down")

    card = card_context(rf.get("/"))
    page = html(viewer_client.get("/dashboard/cards/netprobe/"))

    assert card["status"] == "down"
    assert [s["value"] for s in card["stats"]] == [1, 1, "1 / 1"]
    assert [r["badge"] for r in card["rows"]] == ["failed", "ok"]
    assert card["rows"][0]["tone"] == "down"
    assert "Probes (24 h)" in page


def test_the_admin_searches_results_by_target(client):
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    make_result(target="needle.example:443")
    make_result(target="hay.example:443")
    Monitor.objects.create(name="m", kind="tcp", target="needle.example:443")

    page = client.get("/admin/netprobe/proberesult/?q=needle").content.decode()

    assert "needle.example:443" in page
    assert "hay.example:443" not in page
    assert client.get("/admin/netprobe/monitor/?q=needle&kind=tcp").status_code == 200


@pytest.mark.parametrize("kind", ["http", "dns", "tcp", "tls", "ping", "traceroute"])
def test_a_result_with_no_details_still_renders(viewer_client, kind):
    row = make_result(
        kind=kind,
        target="10.0.0.1",
        status="failed",
        error_code="forbidden",
        error_message="Outbound connection to 10.0.0.1 refused (private)",
        result={},
    )

    page = html(viewer_client.get(f"/netprobe/results/{row.pk}/"))

    assert "refused (private)" in page
    assert "Body excerpt" not in page
    assert 'id="attempts"' not in page


def test_an_empty_body_says_so_instead_of_an_empty_block(operator_client, http_server):
    response = operator_client.post(
        "/netprobe/run/", {"kind": "http", "target": f"{http_server.url}/bytes/0"}
    )

    page = html(operator_client.get(response["Location"]))

    assert ProbeResult.objects.get().result["body_excerpt"] == ""
    assert "Body excerpt" in page
    assert '<p class="muted np-body-empty">(empty body)</p>' in page
    assert '<pre class="np-body">' not in page


def test_a_failed_tls_handshake_shows_its_time_as_the_failed_phase(
    operator_client, https_self_signed
):
    response = operator_client.post(
        "/netprobe/run/",
        {"kind": "http", "target": f"{https_self_signed.url}/", "http-verify_tls": "on"},
    )

    row = ProbeResult.objects.get()
    page = html(operator_client.get(response["Location"]))

    assert (row.status, row.error_code) == ("failed", "tls")
    assert 'class="np-phase np-phase-tls np-phase-failed"' in page
    tls_row = re.search(r'<tr class="phase-tls np-phase-row-failed">(.*?)</tr>', page, re.S)
    assert tls_row is not None
    assert '<span class="badge badge-failed">failed</span>' in tls_row.group(1)
    shown = re.search(r'<td class="num">([0-9.]+)</td>', tls_row.group(1))
    assert shown is not None
    assert abs(float(shown.group(1)) - row.result["timings"]["tls_ms"]) <= 0.01
    assert row.result["timings"]["tls_ms"] > 0
    for phase in ("dns", "connect"):  # the phases before it went through
        assert f'class="np-phase np-phase-{phase}"' in page
    assert "np-phase-ttfb" not in page
