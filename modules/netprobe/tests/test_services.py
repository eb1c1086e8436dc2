"""The probe services: limits from settings, runs stored as rows, batches, pruning."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from modules.netprobe import services
from modules.netprobe.models import Monitor, MonitorTransition, ProbeResult
from modules.netprobe.probes import ProbeOptionsError
from portal.egress import EgressForbidden, EgressPolicy

from .support import make_result

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("np_settings")]


def test_builds_the_engine_limits_from_settings(settings):
    settings.NETPROBE_MAX_TIMEOUT_S = 3.0
    settings.NETPROBE_MAX_COUNT = 5
    settings.NETPROBE_MAX_BODY_EXCERPT = 1000
    settings.NETPROBE_MAX_DURATION_S = 20.0
    settings.NETPROBE_ICMP_PRIVILEGE = "unprivileged"

    limits = services.probe_limits()

    assert (limits.max_timeout_s, limits.default_timeout_s) == (3.0, 3.0)
    assert limits.max_count == 5
    assert (limits.max_body_excerpt_bytes, limits.default_body_excerpt_bytes) == (1000, 1000)
    assert limits.max_duration_s == 20.0
    assert limits.icmp_privilege == "unprivileged"
    with pytest.raises(ProbeOptionsError) as caught:
        services.probe_validate(kind="tcp", target="example.com:443", options={"count": 6})
    assert caught.value.errors == {"count": "must be between 1 and 5"}


def test_stores_a_probe_run_with_its_options_and_response_time(operator, tcp_listener):
    spec = services.probe_validate(
        kind="tcp", target=tcp_listener.target, options={"count": 2, "interval": 0.05}
    )
    row = services.probe_run(spec=spec, user=operator)

    row.refresh_from_db()
    assert (row.kind, row.status, row.error) == ("tcp", "ok", None)
    assert row.options == {"count": 2, "interval": 0.05}
    assert row.response_ms == row.result["rtt_avg_ms"]
    assert row.created_by == operator
    assert row.resolved["used"] == "127.0.0.1"


def test_raises_for_a_refused_target_and_stores_nothing(settings):
    settings.EGRESS_ALLOWED_NETWORKS = []

    with pytest.raises(EgressForbidden):
        services.probe_run(spec=services.probe_validate(kind="tcp", target="127.0.0.1:80"))
    assert not ProbeResult.objects.exists()


def test_reads_the_body_of_a_server_that_closes_the_connection(closing_http_server):
    row = services.probe_run(spec=services.probe_validate(kind="http", target=closing_http_server))

    assert row.status == "ok", row.error
    assert row.result["http_version"] == "HTTP/1.0"
    assert row.result["body_size"] == len(b"closing ") * 512


def test_a_batch_writes_its_rows_in_one_insert(tcp_listener):
    items = [{"kind": "tcp", "target": tcp_listener.target, "options": {"count": 1}}] * 5

    with CaptureQueriesContext(connection) as queries:
        rows = services.probe_batch(items=items)

    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1
    assert [r.status for r in rows] == ["ok"] * 5
    assert all(r.pk for r in rows)
    assert ProbeResult.objects.count() == 5


def test_a_batch_does_not_start_probes_past_its_time_budget(settings, http_server):
    settings.NETPROBE_MAX_DURATION_S = 1.0
    settings.NETPROBE_MAX_TIMEOUT_S = 1.0
    settings.NETPROBE_BATCH_WORKERS = 1
    item = {"kind": "http", "target": f"{http_server.url}/delay/400", "options": {"timeout": 0.8}}

    started = time.perf_counter()
    rows = services.probe_batch(items=[item] * 3)
    elapsed = time.perf_counter() - started

    assert [r.status for r in rows] == ["ok", "timeout", "timeout"]
    # Relative to the work: a second probe started would add about as long as the first took.
    first = rows[0].duration_ms / 1000
    assert elapsed < 1.75 * first, f"{elapsed:.2f} s for a first probe of {first:.2f} s"
    assert rows[1].error_message.startswith("not started")


def test_an_invalid_batch_raises_with_the_item_index():
    with pytest.raises(services.BatchInvalid) as caught:
        services.probe_batch(
            items=[{"kind": "dns", "target": "example.com"}, {"kind": "tcp", "target": ""}]
        )

    assert caught.value.errors == {1: {"target": "is required"}}


@pytest.mark.parametrize(
    "target",
    ["2130706433:80", "0x7f000001:80", "0177.0.0.1:80", "127.1:80", "[::ffff:127.0.0.1]:80"],
)
def test_the_precheck_reads_every_numeric_spelling(target):
    spec = services.probe_validate(kind="tcp", target=target)

    with pytest.raises(EgressForbidden):
        services.target_precheck(spec, policy=EgressPolicy())
    services.target_precheck(spec, policy=EgressPolicy(["127.0.0.0/8"]))


def test_the_precheck_leaves_names_to_run_time():
    for kind, target, options in [
        ("http", "https://localhost/", {}),
        ("dns", "example.com", {}),
        ("ping", "localhost", {}),
    ]:
        spec = services.probe_validate(kind=kind, target=target, options=options)
        services.target_precheck(spec, policy=EgressPolicy())
    resolver = services.probe_validate(
        kind="dns", target="example.com", options={"resolver": "127.0.0.1:53"}
    )
    with pytest.raises(EgressForbidden):
        services.target_precheck(resolver, policy=EgressPolicy())


def test_prunes_old_results_and_keeps_monitor_history():
    monitor = Monitor.objects.create(name="m", kind="tcp", target="example.com:443")
    old = make_result(monitor=monitor, ago=timedelta(days=91))
    older = make_result(ago=timedelta(days=400))
    recent = make_result(monitor=monitor, ago=timedelta(days=89))
    monitor.last_result = old
    monitor.save()
    change = MonitorTransition.objects.create(
        monitor=monitor, from_state="unknown", to_state="up", at=timezone.now(), result=old
    )

    deleted = services.results_prune(chunk=1)

    assert deleted == 2
    assert list(ProbeResult.objects.all()) == [recent]
    assert ProbeResult.objects.filter(pk__in=[old.pk, older.pk]).count() == 0
    monitor.refresh_from_db()
    change.refresh_from_db()
    assert (monitor.last_result, change.result) == (None, None)
    assert services.results_prune(older_than_days=0) == 1
