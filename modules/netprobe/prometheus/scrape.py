"""The two scrapes: one blackbox-style probe (`/probe`) and the monitors' last results (`/metrics`).

A probe answers with probe_success 0 whatever goes wrong with the target (refused by the egress
policy, malformed, unreachable), as blackbox_exporter does: the scrape itself succeeds, and
`debug=true` tells why. Nothing is stored: a scrape every 15 s is not history.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from modules.netprobe.models import LOCAL
from modules.netprobe.probes import ProbeOptionsError
from modules.netprobe.probes import ProbeResult as EngineResult
from modules.netprobe.runner import execute, probe_limits, probe_validate, target_precheck
from portal.egress import EgressForbidden, get_policy

from .config import Module
from .exposition import Families, Outcome, add_monitor_state, add_outcome
from .locations import add_locations, is_multi, monitors_with_places

logger = logging.getLogger("modules.netprobe")

# blackbox_exporter's defaults: a scrape without the header may take 120 s, and the probe gets
# the scrape's timeout less --timeout-offset (0.5 s) so its answer still arrives in time.
DEFAULT_SCRAPE_TIMEOUT_S = 120.0
TIMEOUT_OFFSET_S = 0.5
MIN_TIMEOUT_S = 0.1


class InvalidTimeoutHeader(ValueError):
    """A scrape timeout header that is not a number (a 400 in plain text, not an API error)."""


@dataclass
class ProbeLog:
    """The probe's log lines, for `debug=true` (blackbox's "Logs for the probe")."""

    lines: list[str] = field(default_factory=list)

    def add(self, level: str, message: str, **values: Any) -> None:
        at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        pairs = " ".join(f"{k}={_logfmt(v)}" for k, v in values.items())
        self.lines.append(f"time={at} level={level} msg={_logfmt(message)} {pairs}".rstrip())


@dataclass
class ProbeScrape:
    module: Module
    target: str
    timeout_s: float
    success: bool = False
    families: Families = field(default_factory=Families)
    log: ProbeLog = field(default_factory=ProbeLog)


def probe_timeout(module: Module, header: str | None) -> float:
    """blackbox's getTimeout, then bounded by NETPROBE_MAX_TIMEOUT_S."""
    try:
        scrape_s = float(header) if header else 0.0
    except ValueError:
        raise InvalidTimeoutHeader(
            f"Failed to parse timeout from Prometheus header: {header!r} is not a number"
        ) from None
    if not scrape_s > 0:  # also NaN
        scrape_s = DEFAULT_SCRAPE_TIMEOUT_S
    available = scrape_s - TIMEOUT_OFFSET_S
    timeout = available
    if module.timeout_s is not None and (module.timeout_s < available or available < 0):
        timeout = module.timeout_s
    return max(MIN_TIMEOUT_S, min(timeout, probe_limits().max_timeout_s))


def probe_scrape(*, module: Module, target: str, timeout_s: float) -> ProbeScrape:
    """Run `module` against `target` once and name the result as blackbox_exporter does."""
    scrape = ProbeScrape(module=module, target=target, timeout_s=timeout_s)
    log = scrape.log
    log.add("DEBUG", "Beginning probe", probe=module.prober, timeout_seconds=timeout_s)
    limits = probe_limits()
    probe_target, options = module.probe(target, timeout_s)
    if "body_excerpt_bytes" in options:
        options["body_excerpt_bytes"] = min(
            options["body_excerpt_bytes"], limits.max_body_excerpt_bytes
        )
    t0 = time.perf_counter()
    result: EngineResult | None = None
    verify_tls = True
    try:
        spec = probe_validate(kind=module.kind, target=probe_target, options=options)
        verify_tls = bool(getattr(spec.valid.options, "verify_tls", True))
        target_precheck(spec)
        result = execute(spec, policy=get_policy(), limits=limits)
    except ProbeOptionsError as exc:
        log.add("ERROR", "Invalid target or module options", target=target, err=str(exc))
    except EgressForbidden as exc:
        log.add("ERROR", "Target refused by the egress policy", target=target, err=exc.message)
    except Exception as exc:  # one broken probe answers probe_success 0, not a 500
        logger.exception("NetProbe: /probe of %r with module %s crashed", target, module.name)
        log.add("ERROR", "The probe crashed", err=type(exc).__name__)
    duration_s = time.perf_counter() - t0
    families = scrape.families
    if result is None:
        families.add("probe_success", 0)
        families.add("probe_duration_seconds", duration_s)
    else:
        scrape.success, regex_failed = _judge(module, result, log)
        outcome = Outcome(
            kind=result.kind,
            success=scrape.success,
            duration_s=duration_s,
            result=result.result,
            address=result.resolved.used,
            ip_version=result.ip_version,
            verify_tls=verify_tls,
            failed_due_to_regex=regex_failed,
        )
        add_outcome(families, outcome)
    families.add("probe_timeout_seconds", timeout_s)
    if scrape.success:
        log.add("DEBUG", "Probe succeeded", duration_seconds=round(duration_s, 6))
    else:
        log.add("ERROR", "Probe failed", duration_seconds=round(duration_s, 6))
    return scrape


def _judge(module: Module, result: EngineResult, log: ProbeLog) -> tuple[bool, bool]:
    """(success, failed due to a body regex): NetProbe's verdict plus what blackbox checks
    that NetProbe leaves to its caller."""
    r, checks = result.result, module.checks
    log.add(
        "DEBUG",
        "NetProbe result",
        status=result.status,
        error=json.dumps(result.error.to_dict()) if result.error else "",
        address=result.resolved.used or "",
    )
    if module.kind == "dns":
        rcode = r.get("rcode")
        if rcode is None:
            log.add("ERROR", "Error while sending a DNS query", err=_error(result))
            return False, False
        if rcode not in checks.valid_rcodes:
            log.add("ERROR", "Rcode is not one of the valid rcodes", rcode=rcode)
            return False, False
        return True, False
    success = result.ok
    if not success:
        log.add("ERROR", "Probe error", err=_error(result))
    regex_failed = False
    if module.kind == "http" and r.get("status_code") is not None:
        over_tls = bool(r.get("tls"))
        if checks.fail_if_ssl and over_tls:
            log.add("ERROR", "Final request was over SSL")
            success = False
        if checks.fail_if_not_ssl and not over_tls:
            log.add("ERROR", "Final request was not over SSL")
            success = False
        version = r.get("http_version")
        if checks.valid_http_versions and version not in checks.valid_http_versions:
            log.add("ERROR", "Invalid HTTP version number", version=version)
            success = False
        body = r.get("body_excerpt") or ""
        for pattern in checks.fail_if_body_matches:
            if re.search(pattern, body):
                log.add("ERROR", "Body matched regular expression", regexp=pattern)
                success, regex_failed = False, True
    return success, regex_failed


def _error(result: EngineResult) -> str:
    return f"{result.error.code}: {result.error.message}" if result.error else "none"


def _logfmt(value: Any) -> str:
    text = str(value)
    if text and not any(c in text for c in ' "=\n'):
        return text
    return json.dumps(text)


def monitors_scrape() -> Families:
    """Every monitor's state and every enabled monitor's last result (per location for those
    run from several), in one query whatever the number of monitors and locations."""
    families = Families()
    for monitor in monitors_with_places():
        labels = {
            "monitor": monitor.name,
            "monitor_id": str(monitor.pk),
            "target": monitor.target,
            "location": LOCAL,
        }
        if is_multi(monitor):
            add_locations(families, monitor, labels)
            continue
        add_monitor_state(families, monitor, labels)
        if monitor.enabled and monitor.last_result is not None:
            add_outcome(families, Outcome.of_row(monitor.last_result), labels)
    return families
