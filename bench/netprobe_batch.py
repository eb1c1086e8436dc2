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

import sys
import tempfile
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

BATCH = 50
BATCH_DELAY_MS = 200
API_DELAY_MS = 100
BATCH_RUNS = 5
API_RUNS = 15
BATCH_TARGET = 1.5
API_TARGET = 1.2


def main() -> int:
    target = ServerProcesses(serve_http_target)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            setup_django(portal_env(tmp, LOG_LEVEL="warning"), migrate=True)
            return run(target.greetings[0])
    finally:
        target.close()


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
    batch_ok = ratio_line("batch / single", batch_ratio, BATCH_TARGET)
    print(f"engine directly (server waits {API_DELAY_MS} ms): {direct * 1000:.1f} ms")
    print(f"POST /api/netprobe/probes/: {api * 1000:.1f} ms")
    api_ok = ratio_line("API / engine", api_ratio, API_TARGET, digits=3)
    ok = batch_ok and api_ok
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
