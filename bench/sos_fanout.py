"""SOS fan-out: one alert to 1,000 contacts through the real dispatcher vs. a bare send loop.

Half the contacts have an email address (aiosmtpd on loopback), half a webhook (a loopback
HTTP receiver); both peers run in a separate process, as real servers would. The bare loop
sends the same 1,000 messages with the same channel senders, one after the other, without the
database. Then the same alert again with the SMTP server stopped for 5 s mid-run: every
message must still arrive exactly once.

Run from the repository root: .venv/bin/python bench/sos_fanout.py  (SOS_BENCH_N=200 for less)

`--drill` runs the 10,000-recipient drill instead (PostgreSQL, 4 worker processes, a worker
killed mid-run): bench/sos_drill.py.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import (  # noqa: E402
    ALERT_MESSAGE,
    ServerProcesses,
    bench_job,
    doubles,
    pipeline_within,
    setup_django,
    sos_env,
)
from modules.sos.tests.peers import MailHandler, SmtpServer, WebhookReceiver  # noqa: E402

N = int(os.environ.get("SOS_BENCH_N", "1000"))
WORKERS = int(os.environ.get("SOS_WORKERS", "8"))
OUTAGE_S = 5.0
TARGET_RATIO = 1.5


def serve_peers(conn: Connection) -> None:
    """In a separate process, like real servers: aiosmtpd and a webhook receiver."""
    handler = MailHandler(headers_only=True)
    smtp = SmtpServer(handler=handler).start()
    hooks = WebhookReceiver().start()
    conn.send((smtp.port, hooks.port))
    while True:
        command = conn.recv()
        if command == "keys":
            keys = handler.keys() + [r.headers["Idempotency-Key"] for r in hooks.requests]
            conn.send(keys)
        elif command == "emails":
            conn.send(len(handler.messages))
        elif command == "clear":
            handler.clear()
            hooks.clear()
            conn.send(True)
        elif command == "smtp_stop":
            smtp.stop()
            conn.send(True)
        elif command == "smtp_start":
            smtp = SmtpServer(port=smtp.port, handler=handler).start()
            conn.send(True)
        elif command == "quit":
            smtp.stop()
            hooks.stop()
            conn.send(True)
            return


class Peers(ServerProcesses):
    def __init__(self) -> None:
        super().__init__(serve_peers)
        self.smtp_port, self.http_port = self.greetings[0]

    def ask(self, command: str) -> Any:
        return self.ask_all(command)[0]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"


def configure(tmp: str, smtp_port: int) -> None:
    env = sos_env(
        DATABASE_URL=f"sqlite:///{tmp}/bench.sqlite3",
        SOS_WORKERS=str(WORKERS),
        SOS_EMAIL_BACKEND="smtp",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_port),
        EMAIL_TIMEOUT="5",
    )
    setup_django(env, migrate=True)


def create_contacts(hooks: Peers) -> None:
    from modules.sos.models import Contact, ContactMethod, Group

    contacts = Contact.objects.bulk_create([Contact(name=f"Person {i:04}") for i in range(N)])
    ContactMethod.objects.bulk_create(
        [
            ContactMethod(contact=c, kind="email", address=f"p{i}@example.com")
            if i % 2 == 0
            else ContactMethod(contact=c, kind="webhook", address=hooks.url(f"/h/{i}"))
            for i, c in enumerate(contacts)
        ]
    )
    Group.objects.create(name="everyone").members.set(contacts)


def received(peers: Peers) -> Counter[str]:
    keys = Counter(peers.ask("keys"))
    peers.ask("clear")
    return keys


def bare_loop() -> float:
    """The same messages, rendered and sent by the same senders, one by one, no database."""
    from modules.sos.models import ContactMethod
    from modules.sos.outbox.dispatch import default_channels, send_job

    now = datetime.now(UTC)
    jobs = [
        bench_job(
            delivery_id=10_000_000 + m.pk,
            kind=m.kind,
            address=m.address,
            secret=m.secret,
            contact_name=m.contact.name,
            method_id=m.pk,
            raised_at=now,
        )
        for m in ContactMethod.objects.select_related("contact").order_by("id")
    ]
    channels = default_channels()
    started = time.perf_counter()
    failures = [o for o in (send_job(channels, job) for job in jobs) if o.error]
    elapsed = time.perf_counter() - started
    channels.close()
    assert not failures, failures[:3]
    return elapsed


def pipeline(workers: int) -> tuple[float, int]:
    """alert_raise() writes 1,000 rows in one transaction; the dispatcher drains them."""
    from modules.sos import services
    from modules.sos.outbox.dispatch import process_due_deliveries

    started = time.perf_counter()
    alert = services.alert_raise(message=ALERT_MESSAGE, groups=["everyone"]).alert
    process_due_deliveries(workers=workers)
    elapsed = time.perf_counter() - started
    return elapsed, alert.pk


def drain_until_done(alert_id: int, deadline_s: float) -> None:
    """What `sos_worker` does: pass after pass, sleeping until the next row is due."""
    from modules.sos.models import Delivery
    from modules.sos.outbox.dispatch import process_due_deliveries, seconds_until_due

    deadline = time.monotonic() + deadline_s
    while Delivery.objects.filter(alert_id=alert_id, state__in=["pending", "sending"]).exists():
        if time.monotonic() > deadline:
            raise SystemExit("outage run did not finish in time")
        process_due_deliveries()
        wait = seconds_until_due()
        time.sleep(min(wait if wait is not None else 0.1, 0.2))


def outage(peers: Peers) -> tuple[float, int]:
    from modules.sos import services
    from modules.sos.models import AlertEvent

    def break_smtp() -> None:
        while peers.ask("emails") < N // 10:
            time.sleep(0.005)
        peers.ask("smtp_stop")
        print(f"  SMTP server stopped after {peers.ask('emails')} emails", flush=True)
        time.sleep(OUTAGE_S)
        peers.ask("smtp_start")
        print(f"  SMTP server back after {OUTAGE_S:g} s", flush=True)

    saboteur = threading.Thread(target=break_smtp, daemon=True)
    saboteur.start()
    started = time.perf_counter()
    alert = services.alert_raise(message=ALERT_MESSAGE, groups=["everyone"]).alert
    drain_until_done(alert.pk, deadline_s=120)
    elapsed = time.perf_counter() - started
    saboteur.join()
    retried = AlertEvent.objects.filter(
        alert_id=alert.pk, kind="attempt", data__outcome="transient"
    ).count()
    return elapsed, retried


def check(alert_id: int | None, keys: Counter[str], label: str) -> bool:
    from modules.sos.models import Delivery

    twice = doubles(keys)
    if twice and alert_id is not None:
        from modules.sos.models import AlertEvent

        for key in [k for k, n in keys.items() if n > 1][:3]:
            pk = int(key.split("-")[1])
            events = AlertEvent.objects.filter(delivery_id=pk).values_list("kind", "message")
            print(f"  {key} received {keys[key]} times; its events: {list(events)}")
    ok = len(keys) == N and twice == 0
    if alert_id is not None:
        states = Counter(Delivery.objects.filter(alert_id=alert_id).values_list("state", flat=True))
        ok = ok and states == Counter({"sent": N})
        print(f"  {label}: received {len(keys)}/{N} distinct, {twice} twice, rows {dict(states)}")
    else:
        print(f"  {label}: received {len(keys)}/{N} distinct, {twice} twice")
    return ok


def main() -> int:
    tmp = tempfile.mkdtemp(prefix="sos-bench-")
    peers = Peers()
    try:
        configure(tmp, peers.smtp_port)
        create_contacts(peers)
        print(f"SOS fan-out: {N} contacts ({N - N // 2} email -> aiosmtpd, {N // 2} webhooks)")
        ok = True

        bare = bare_loop()
        ok &= check(None, received(peers), "bare loop")

        piped, alert_id = pipeline(WORKERS)
        ok &= check(alert_id, received(peers), f"pipeline, {WORKERS} workers")

        single, alert_id = pipeline(1)
        ok &= check(alert_id, received(peers), "pipeline, 1 worker")

        print(f"Outage: the same alert again, SMTP stopped for {OUTAGE_S:g} s mid-run")
        out, retried = outage(peers)
        ok &= check(None, received(peers), "with outage")

        ratio = piped / bare
        print()
        print(f"bare loop, same senders, sequential     {bare:6.2f} s  {N / bare:6.0f} msg/s")
        print(
            f"pipeline, {WORKERS} workers (raise + dispatch) {piped:6.2f} s  {N / piped:6.0f} msg/s"
            f"  ratio {ratio:.2f}x (target <= {TARGET_RATIO}x)"
        )
        print(
            f"pipeline, 1 worker (raise + dispatch)   {single:6.2f} s  {N / single:6.0f} msg/s"
            f"  ratio {single / bare:.2f}x (the bookkeeping, at the loop's concurrency)"
        )
        print(
            f"with a {OUTAGE_S:g} s SMTP outage, {WORKERS} workers    {out:6.2f} s  "
            f"{retried} transient failures retried; exactly once: {'yes' if ok else 'NO'}"
        )
        ok &= pipeline_within(ratio, TARGET_RATIO)
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        peers.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if "--drill" in sys.argv[1:]:
        import subprocess

        drill = [sys.executable, str(ROOT / "bench" / "sos_drill.py")]
        raise SystemExit(subprocess.run(drill, check=False).returncode)
    raise SystemExit(main())
