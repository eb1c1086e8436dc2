"""Load: concurrent operators against gunicorn on PostgreSQL, and the read path's overhead.

1. The portal as the container runs it (gunicorn, 2 workers x 4 threads, DEBUG off) on a scratch
   PostgreSQL database, with loopback peers: an HTTP target for probes and a webhook receiver
   for SOS deliveries (sent by the web process, SOS_WAKE=thread).
2. The read path against a baseline in the same run: `GET /api/netprobe/probes/?page_size=20`
   (middleware, token auth, throttling, logging, the portal's serializer) against a bare DRF
   ListAPIView over the same 20 rows served by a second gunicorn with no middleware, no auth,
   no throttling and a plain ModelSerializer (bench/load_site.py). Median of sequential
   requests, alternating; target <= 1.5x.
3. Locust, headless: LOAD_USERS (50) operators for LOAD_SECONDS (60) mixing dashboard pages,
   API reads, probes, SOS raises and small face compares (bench/locustfile.py). Prints requests
   per second and p50/p95/p99 per endpoint; any failed request fails the benchmark.

Run from the repository root: .venv/bin/python bench/load.py   (needs PostgreSQL on loopback)
"""

from __future__ import annotations

import csv
import http.server
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from modules.faces.tests.fixtures import fixtures_dir  # noqa: E402
from modules.sos.tests.peers import WebhookReceiver  # noqa: E402
from tests.servers import (  # noqa: E402
    database_url,
    gunicorn,
    manage,
    portal_env,
    postgres_available,
    run_python,
    scratch_database,
)

USERS = int(os.environ.get("LOAD_USERS", "50"))
SECONDS = int(os.environ.get("LOAD_SECONDS", "60"))
READ_SAMPLES = int(os.environ.get("LOAD_READ_SAMPLES", "300"))
TARGET_RATIO = 1.5
PASSWORD = "load-test-password-123"  # a throwaway account in a scratch database
LOCUST = Path(sys.executable).with_name("locust")
FACE_A = "dlib_faces/Tom_Cruise_avp_2014_4.jpg"  # small photos: a compare per request, not a batch
FACE_B = "face_recognition/examples_knn_examples_test_obama1.jpg"

SEED = f"""
from modules.sos.models import Contact, ContactMethod, Group
from portal.test import make_user
from rest_framework.authtoken.models import Token
user = make_user("olivia", role="operator")
user.set_password({PASSWORD!r})
user.save()
group = Group.objects.create(name="load")
for i in range(3):
    contact = Contact.objects.create(name=f"Receiver {{i}}")
    ContactMethod.objects.create(contact=contact, kind="webhook", address="{{hook}}/h/" + str(i))
    group.members.add(contact)
print(Token.objects.create(user=user).key)
"""


class _Target(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _get(url: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
        r.read()
    return time.perf_counter() - started


def read_path_ratio(portal: str, bare: str, token: str) -> tuple[float, float, float]:
    api = {"Authorization": f"Token {token}"}
    for _ in range(20):  # warm both: imports, connections, caches
        _get(portal + "/api/netprobe/probes/?page_size=20", api)
        _get(bare + "/bare/probes/?page_size=20", {})
    portal_s, bare_s = [], []
    for _ in range(READ_SAMPLES):
        portal_s.append(_get(portal + "/api/netprobe/probes/?page_size=20", api))
        bare_s.append(_get(bare + "/bare/probes/?page_size=20", {}))
    p, b = statistics.median(portal_s), statistics.median(bare_s)
    return p * 1000, b * 1000, p / b


def run_locust(url: str, env: dict[str, str], out: Path) -> list[dict[str, str]]:
    subprocess.run(
        [
            str(LOCUST),
            "-f",
            str(ROOT / "bench" / "locustfile.py"),
            "--headless",
            "--users",
            str(USERS),
            "--spawn-rate",
            str(max(1, USERS // 5)),
            "--run-time",
            f"{SECONDS}s",
            "--host",
            url,
            "--csv",
            str(out / "load"),
            "--only-summary",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        check=False,
        timeout=SECONDS + 120,
        stdout=subprocess.DEVNULL,
        stderr=(out / "locust.log").open("w"),
    )
    with open(out / "load_failures.csv", newline="") as failures:
        for row in csv.DictReader(failures):
            print(f"failed: {row['Method']} {row['Name']} x{row['Occurrences']}: {row['Error']}")
    with open(out / "load_stats.csv", newline="") as stats:
        return list(csv.DictReader(stats))


def main() -> int:
    unavailable = postgres_available()
    if unavailable:
        print(f"skipped: {unavailable}")
        return 1
    faces = fixtures_dir()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="portal-load-")))
        hooks = WebhookReceiver().start()
        stack.callback(hooks.stop)
        target = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Target)
        threading.Thread(target=target.serve_forever, daemon=True).start()
        stack.callback(target.shutdown)

        name = stack.enter_context(scratch_database("portal_load"))
        env = portal_env(
            database_url(name),
            SOS_WAKE="thread",
            API_THROTTLE_USER="100000/min",  # one account stands for all the users here
            PUBLIC_BASE_URL="http://portal.bench",
            STATIC_ROOT=str(tmp / "static"),
            # Plain HTTP on loopback stands for the load balancer that ends TLS in production.
            SESSION_COOKIE_SECURE="0",
            CSRF_COOKIE_SECURE="0",
        )
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "collectstatic", "--noinput", "-v", "0")  # as the image build does
        token = run_python(env, SEED.replace("{hook}", hooks.url("")).strip()).strip()
        portal = stack.enter_context(gunicorn(env, tmp / "portal.log"))
        bare_env = {**env, "DJANGO_SETTINGS_MODULE": "bench.load_site"}
        bare = stack.enter_context(gunicorn(bare_env, tmp / "bare.log"))

        probe_target = f"http://127.0.0.1:{target.server_address[1]}/"
        api = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        for _ in range(20):  # the rows both list views read
            body = f'{{"kind": "http", "target": "{probe_target}"}}'.encode()
            request = urllib.request.Request(
                portal + "/api/netprobe/probes/", data=body, headers=api
            )
            urllib.request.urlopen(request, timeout=30).read()

        portal_ms, bare_ms, ratio = read_path_ratio(portal, bare, token)
        print(
            f"read path, 20 probe rows, median of {READ_SAMPLES}: portal {portal_ms:.1f} ms, "
            f"bare DRF ListAPIView {bare_ms:.1f} ms: ratio {ratio:.2f}x "
            f"(target <= {TARGET_RATIO}x)"
        )

        locust_env = {
            **os.environ,
            "LOAD_TOKEN": token,
            "LOAD_PASSWORD": PASSWORD,
            "LOAD_PROBE_TARGET": probe_target,
            "LOAD_FACE_A": str(faces / FACE_A),
            "LOAD_FACE_B": str(faces / FACE_B),
        }
        rows = run_locust(portal, locust_env, tmp)
        print(f"\nlocust: {USERS} users for {SECONDS} s against gunicorn (2 workers x 4 threads)")
        columns = ("requests", "fails", "req/s", "p50 ms", "p95 ms", "p99 ms")
        print(f"{'endpoint':28} " + " ".join(f"{c:>8}" for c in columns))
        failures = 0
        for row in rows:
            failures += int(row["Failure Count"]) if row["Name"] == "Aggregated" else 0
            print(
                f"{row['Name'][:28]:28} {row['Request Count']:>8} {row['Failure Count']:>8} "
                f"{float(row['Requests/s']):8.1f} {row['50%']:>8} {row['95%']:>8} {row['99%']:>8}"
            )
        print(f"webhook deliveries received: {len(hooks.requests)}")
        ok = failures == 0 and ratio <= TARGET_RATIO
        print("PASS" if ok else f"FAIL: {failures} failed requests, read-path ratio {ratio:.2f}x")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
