"""NetProbe: a batch of slow targets vs one probe, and the API's overhead over the engine.

1. 50 http probes against a loopback server that answers each request after 200 ms, as one
   batch through POST /api/netprobe/batches/, against one single probe through
   POST /api/netprobe/probes/, in the same run. Target: batch <= 1.5 x single.
2. POST /api/netprobe/probes/ (http, a server answering after 100 ms) against calling the probe
   engine directly on the same server. Target: <= 1.2 x.

Medians over several runs. The HTTP server runs in a separate process, as a real one would.
Django runs with a temporary SQLite database and EGRESS_ALLOWED_NETWORKS=127.0.0.0/8.

Run from the repository root: .venv/bin/python bench/netprobe_batch.py
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BATCH = 50
BATCH_DELAY_MS = 200
API_DELAY_MS = 100
BATCH_RUNS = 5
API_RUNS = 15
BATCH_TARGET = 1.5
API_TARGET = 1.2


def serve(conn: Connection) -> None:
    from modules.netprobe.tests.httpserver import LoopbackHTTPServer

    with LoopbackHTTPServer() as server:
        conn.send(server.url)
        conn.recv()  # until told to stop


def configure(tmp: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "SECRET_KEY": "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
            "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
            "STATIC_ROOT": tmp,  # no collectstatic for a benchmark of the API
            "EGRESS_ALLOWED_NETWORKS": "127.0.0.0/8",
            "ALLOWED_HOSTS": "testserver",
            "LOG_LEVEL": "warning",
            "LOG_FORMAT": "text",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def medians_s(runs: int, *actions: Callable[[], Any]) -> list[float]:
    """Median wall time of each action; the actions alternate, so a busy machine slows all alike."""
    times: list[list[float]] = [[] for _ in actions]
    for _ in range(runs):
        for action, samples in zip(actions, times, strict=True):
            t0 = time.perf_counter()
            action()
            samples.append(time.perf_counter() - t0)
    return [statistics.median(samples) for samples in times]


def main() -> int:
    context = multiprocessing.get_context("spawn")
    here, there = context.Pipe()
    server = context.Process(target=serve, args=(there,), daemon=True)
    server.start()
    base = here.recv()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            configure(tmp)
            return run(base)
    finally:
        here.send("stop")
        server.join(timeout=5)


def run(base: str) -> int:
    from django.conf import settings

    from modules.netprobe.probes import run_probe
    from modules.netprobe.services import probe_limits
    from portal.egress import get_policy
    from portal.test import api_client, make_user

    client = api_client(make_user("bench", role="operator"))
    settings.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = []  # the bench is not a client to limit

    def post(path: str, payload: dict[str, Any]) -> dict[str, Any]:
        response = client.post(path, payload, format="json")
        assert response.status_code == 201, response.content
        return response.json()

    slow = {"kind": "http", "target": f"{base}/delay/{BATCH_DELAY_MS}"}
    post("/api/netprobe/probes/", slow)  # warm-up: imports, first query, connection

    def batch() -> None:
        body = post("/api/netprobe/batches/", {"items": [slow] * BATCH})
        assert [r["status"] for r in body["results"]] == ["ok"] * BATCH, body["results"][0]

    single, batch_time = medians_s(BATCH_RUNS, lambda: post("/api/netprobe/probes/", slow), batch)
    batch_ratio = batch_time / single

    fast = {"kind": "http", "target": f"{base}/delay/{API_DELAY_MS}"}
    policy, limits = get_policy(), probe_limits()

    def engine() -> None:
        assert run_probe("http", fast["target"], {}, policy=policy, limits=limits).ok

    engine()
    direct, api = medians_s(API_RUNS, engine, lambda: post("/api/netprobe/probes/", fast))
    api_ratio = api / direct

    workers = settings.NETPROBE_BATCH_WORKERS
    print(f"single probe via the API (server waits {BATCH_DELAY_MS} ms): {single * 1000:.1f} ms")
    print(f"batch of {BATCH} via the API ({workers} workers): {batch_time * 1000:.1f} ms")
    print(f"batch / single = {batch_ratio:.2f} x (target <= {BATCH_TARGET} x)")
    print(f"engine directly (server waits {API_DELAY_MS} ms): {direct * 1000:.1f} ms")
    print(f"POST /api/netprobe/probes/: {api * 1000:.1f} ms")
    print(f"API / engine = {api_ratio:.3f} x (target <= {API_TARGET} x)")
    ok = batch_ratio <= BATCH_TARGET and api_ratio <= API_TARGET
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
