"""NetProbe from many places: real vantage processes on loopback, a hub in this process.

Every vantage is its own gunicorn process (NETPROBE_ROLE=vantage, its own secret, no database)
on its own loopback address, 127.0.0.2 and up (modules/netprobe/tests/vantages.py); the target is
an HTTP server in a separate process. The hub is Django in this process on a temporary SQLite
database, with EGRESS_ALLOWED_NETWORKS=127.0.0.0/8.

1. An http probe from 5 vantages at once against the same probe from 1 vantage, in the same run,
   through POST /api/netprobe/probes/ with `locations`. Each vantage adds ~100 ms: the hub
   reaches it through a relay that holds every connection 100 ms before passing it on (a slow
   network path, a real TCP hop). Medians of alternating runs. Target: 5 <= 1.3 x 1.
2. A quorum monitor (3 vantages, quorum 2, failure_threshold 1) run for 200 rounds through
   monitor_run_due, the service the schedulers call, its clock stepped one interval per round,
   with one vantage always failing: its own egress policy refuses the target, so its probe fails
   every round (that location is down). Then again with one vantage stopped (unavailable every
   round). Target: 0 SOS alerts (Alert rows) and the monitor up throughout, both times.
3. A real outage: the target's process stopped under a monitor from 3 vantages (quorum 2,
   failure_threshold 1, so one failed round per location takes it down). Target: the monitor is
   down, with one SOS alert, within 2 rounds.

Run from the repository root: .venv/bin/python bench/netprobe_vantages.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import (  # noqa: E402
    ServerProcesses,
    medians_s,
    portal_env,
    ratio_line,
    serve_http_target,
    setup_django,
)

FAN_OUT = 5
PATH_DELAY_S = 0.1
FAN_OUT_RUNS = 7
FAN_OUT_TARGET = 1.3
ROUNDS = 200
OUTAGE_ROUNDS = 2
HOSTS = [f"127.0.0.{n}" for n in range(2, 2 + FAN_OUT)]
BLIND_HOST = "127.0.0.9"  # a vantage whose egress policy refuses the target
STOPPED_URL = "http://127.0.0.10:9"  # a vantage that is down: nothing listens there


def main() -> int:
    from modules.netprobe.tests.vantages import start_vantages

    target = ServerProcesses(serve_http_target)
    base = target.greetings[0]

    # Requests reach a vantage through its relay (127.0.0.1) as well as directly.
    hosts = ",".join([*HOSTS, BLIND_HOST, "127.0.0.1"])
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = portal_env(
                tmp,
                NETPROBE_SCHEDULER="off",  # the bench drives monitor_run_due itself
                SOS_WAKE="none",  # alerts are rows; nobody is sent anything
                LOG_LEVEL="error",
            )
            setup_django(env, migrate=True)
            home = Path(tmp)
            with (
                start_vantages(home / "v", HOSTS, env={"ALLOWED_HOSTS": hosts}) as fleet,
                start_vantages(
                    home / "blind",
                    [BLIND_HOST],
                    names=["blind"],
                    env={"ALLOWED_HOSTS": hosts, "EGRESS_ALLOWED_NETWORKS": ""},
                ) as blind,
            ):
                return run(base, fleet, blind[0], target.close)
    finally:
        target.close()


def run(base: str, fleet: list[Any], blind: Any, stop_target: Callable[[], None]) -> int:
    from django.conf import settings

    from modules.netprobe.models import Vantage
    from modules.netprobe.tests.vantages import SlowRelay
    from portal.test import api_client, make_user

    settings.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = []  # the bench is not a client to limit
    client = api_client(make_user("bench", role="operator"))
    relays = [SlowRelay(v.url, PATH_DELAY_S) for v in fleet]
    try:
        for v, relay in zip(fleet, relays, strict=True):
            Vantage.objects.create(name=f"far-{v.name}", url=relay.url, secret=v.secret)
            Vantage.objects.create(name=v.name, url=v.url, secret=v.secret)
        Vantage.objects.create(name=blind.name, url=blind.url, secret=blind.secret)
        Vantage.objects.create(name="stopped", url=STOPPED_URL, secret="s" * 40)
        far = [f"far-{v.name}" for v in fleet]
        fan_ok = fan_out(client, base, far)
    finally:
        for relay in relays:
            relay.stop()
    names = [v.name for v in fleet]
    blind_ok = quorum_rounds(base, [names[0], names[1], blind.name], "failing (egress refused)")
    stopped_ok = quorum_rounds(base, [names[0], names[1], "stopped"], "stopped (unavailable)")
    outage_ok = outage(base, names[2:5], stop_target)
    ok = fan_ok and blind_ok and stopped_ok and outage_ok
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def fan_out(client: Any, base: str, far: list[str]) -> bool:
    target = f"{base}/"

    def measure(locations: list[str]) -> None:
        payload = {"kind": "http", "target": target, "locations": locations}
        response = client.post("/api/netprobe/probes/", payload, format="json")
        assert response.status_code == 201, response.content
        entries = response.json()["results"]
        assert [e["status"] for e in entries] == ["ok"] * len(locations), entries
        assert [e["result"]["status"] for e in entries] == ["ok"] * len(locations), entries

    measure(far)  # warm-up: imports, first queries, the vantages' first requests
    one, five = medians_s(FAN_OUT_RUNS, lambda: measure(far[:1]), lambda: measure(far))
    print(f"http probe from 1 vantage ({PATH_DELAY_S * 1000:.0f} ms path): {one * 1000:.1f} ms")
    print(f"http probe from {len(far)} vantages at once: {five * 1000:.1f} ms")
    return ratio_line(f"{len(far)} / 1", five / one, FAN_OUT_TARGET)


def make_monitor(name: str, base: str, locations: list[str]) -> Any:
    from modules.netprobe import services
    from modules.sos.models import Contact, ContactMethod, Group

    group, _ = Group.objects.get_or_create(name="on-call")
    if not group.members.exists():
        contact = Contact.objects.create(name="on-call person")
        ContactMethod.objects.create(contact=contact, kind="email", address="oncall@example.com")
        group.members.add(contact)
    return services.monitor_create(
        name=name,
        kind="http",
        target=f"{base}/",
        options={"timeout": 2},
        interval_s=60,
        failure_threshold=1,
        recovery_threshold=1,
        sos_group=group,
        locations=locations,
        quorum=2,
    )


def run_round(monitor: Any, at: Any) -> Any:
    """One round of `monitor` through the schedulers' service; the others are paused."""
    from modules.netprobe import services
    from modules.netprobe.models import Monitor

    Monitor.objects.exclude(pk=monitor.pk).update(enabled=False)
    summary = services.monitor_run_due(now=at)
    assert summary.ran == 1, summary
    monitor.refresh_from_db()
    return summary


def quorum_rounds(base: str, locations: list[str], odd_one: str) -> bool:
    from django.utils import timezone

    from modules.netprobe.models import MonitorLocation
    from modules.sos.models import Alert

    monitor = make_monitor(f"quorum {odd_one}", base, locations)
    alerts_before = Alert.objects.count()
    start, states, t0 = timezone.now(), set(), time.perf_counter()
    for i in range(ROUNDS):
        run_round(monitor, start + timedelta(seconds=60 * i))
        states.add(monitor.state)
    elapsed = time.perf_counter() - t0
    alerts = Alert.objects.count() - alerts_before
    places = dict(MonitorLocation.objects.filter(monitor=monitor).values_list("location", "state"))
    print(
        f"quorum 2 of 3, one vantage {odd_one}, {ROUNDS} rounds in {elapsed:.1f} s: "
        f"{alerts} SOS alert(s), monitor states seen {sorted(states)}, locations {places} "
        "(target 0 alerts, always up)"
    )
    return alerts == 0 and states == {"up"}


def outage(base: str, locations: list[str], stop_target: Callable[[], None]) -> bool:
    from django.utils import timezone

    from modules.sos.models import Alert

    monitor = make_monitor("outage", base, locations)
    start = timezone.now()
    for i in range(3):
        run_round(monitor, start + timedelta(seconds=60 * i))
    up_before = monitor.state == "up"
    alerts_before = Alert.objects.count()
    stop_target()
    rounds = 0
    while monitor.state != "down" and rounds < 5:
        rounds += 1
        run_round(monitor, start + timedelta(seconds=60 * (2 + rounds)))
    alerts = Alert.objects.count() - alerts_before
    change = monitor.transitions.order_by("-id").first()
    print(
        f"target stopped, failure_threshold 1, quorum 2 of 3: down after {rounds} round(s) "
        f"({'up' if up_before else 'NOT up'} before), {alerts} SOS alert(s): "
        f"{change.reason if change else '-'} (target <= {OUTAGE_ROUNDS} rounds, 1 alert)"
    )
    return up_before and monitor.state == "down" and rounds <= OUTAGE_ROUNDS and alerts == 1


if __name__ == "__main__":
    sys.exit(main())
