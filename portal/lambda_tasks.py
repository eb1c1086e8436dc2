"""What Zappa's scheduled events call on AWS Lambda (`events` in zappa_settings.json).

Zappa imports an event's function by dotted path and calls it with (event, context) once the
handler has set Django up. Each runs the management command an operator or a Kubernetes
CronJob runs, and does nothing for a module PORTAL_MODULES leaves out. What a command prints
goes to the log (CloudWatch) and back as the invocation's result, which has to be JSON.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from django.conf import settings
from django.core.management import call_command

from portal.finops import traffic

logger = logging.getLogger(__name__)


class PruneFailed(RuntimeError):
    """One or more of the daily prunes failed; `results` has what each one did."""

    def __init__(self, message: str, results: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.results = results


def _run(module: str, command: str) -> dict[str, Any]:
    if module not in settings.PORTAL_MODULES:
        return {"command": command, "skipped": f"{module} is not enabled"}
    output = io.StringIO()
    call_command(command, stdout=output)
    text = output.getvalue().strip()
    if text:
        print(text)  # noqa: T201 (Lambda's stdout is the function's log)
    return {"command": command, "output": text}


def run_monitors(event: dict[str, Any] | None = None, context: Any = None) -> dict[str, Any]:
    """Every minute: run the NetProbe monitors that are due."""
    # An execution environment never sees its process exit: its traffic counts leave here.
    traffic.flush()
    return _run("netprobe", "netprobe_run_monitors")


def sos_sweep(event: dict[str, Any] | None = None, context: Any = None) -> dict[str, Any]:
    """Every minute: send what is due (lost wake-ups, retries, reminders)."""
    traffic.flush()
    return _run("sos", "sos_sweep")


def prune(event: dict[str, Any] | None = None, context: Any = None) -> dict[str, Any]:
    """Daily: delete probe results, stored face photos and the SOS inbound reply log older
    than their retention. Every prune runs even when one fails (as entrypoint.sh's `prune`
    does); the invocation fails after them, naming each failure, so the error is logged and
    alarmed on."""
    results = []
    failures = []
    for module, command in (
        ("netprobe", "netprobe_prune"),
        ("faces", "faces_prune"),
        ("sos", "sos_prune"),
    ):
        try:
            results.append(_run(module, command))
        except Exception as exc:
            logger.exception("%s failed", command)
            failures.append(f"{command}: {type(exc).__name__}: {exc}")
            results.append({"command": command, "error": failures[-1]})
    if failures:
        raise PruneFailed("; ".join(failures), results)
    return {"results": results}
