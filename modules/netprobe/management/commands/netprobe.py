"""`manage.py netprobe <kind> <target> [options] [--from LOCATIONS] [--json]`: run one probe
from a shell, here or from several places at once (`--from all`, or vantage names, comma-separated).

Exit codes: 0 the probe succeeded (from every location asked), 1 it ran and failed or timed out
(from at least one location, or a vantage could not answer), 2 nothing was run: a usage error
(argparse), invalid options, an unknown location, or a target the egress policy refuses. With
--json those last print {"error": {"code", "message", "details"}} on stdout (the API's error
envelope), so a script reads every outcome from stdout. From several locations --json prints the
API's measurement: {"measurement", "results": [{"location", "status", "result", "reason"}]}.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError

from modules.netprobe import services
from modules.netprobe.management.tables import location_table
from modules.netprobe.probes import KINDS, ProbeOptionsError
from modules.netprobe.probes.catalog import described_help, options_by_name
from modules.netprobe.runner import ProbeSpec, execute
from modules.netprobe.serializers import ProbeResultSerializer
from modules.netprobe.vantages.fanout import run_at
from modules.netprobe.vantages.locations import (
    LocationsInvalid,
    invalid,
    is_multi,
    parse_list,
    resolve,
)
from modules.netprobe.vantages.serializers import MeasurementSerializer
from portal.egress import EgressForbidden, get_policy
from portal.errors import PortalError

USAGE_ERROR = 2
PROBE_FAILED = 1

VALUE_TYPES: dict[str, type] = {"int": int, "float": float}


def add_option_flags(parser: ArgumentParser) -> None:
    """One flag per probe option, derived from the kinds' option dataclasses; a flag is sent
    only when given. A switch sets the opposite of the option's default."""
    for name, infos in options_by_name().items():
        info, text = infos[0], described_help(infos)
        if info.type == "bool":
            parser.add_argument(
                info.flag,
                dest=f"opt_{name}",
                action="store_const",
                const=not info.default,
                help=text,
            )
            continue
        if info.type == "choice":
            text = f"{text} ({', '.join(c for c in info.choices if c)})"
        if info.type == "lines":  # one flag per item: --condition '[STATUS] == 200' (repeatable)
            parser.add_argument(info.flag, dest=f"opt_{name}", action="append", help=text)
            continue
        kind = VALUE_TYPES.get(info.type, str)
        parser.add_argument(info.flag, dest=f"opt_{name}", type=kind, help=text)


class Command(BaseCommand):
    help = (
        "Run one NetProbe probe, here or --from several locations, and print a summary (or "
        "--json). Exit 0 ok, 1 failed, 2 usage."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("kind", choices=list(KINDS))
        parser.add_argument("target")
        add_option_flags(parser)
        family = parser.add_mutually_exclusive_group()
        family.add_argument("-4", dest="opt_ip_version", action="store_const", const=4, help="IPv4")
        family.add_argument("-6", dest="opt_ip_version", action="store_const", const=6, help="IPv6")
        parser.add_argument(
            "-o",
            "--option",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="any other option, e.g. -o expect_status=2xx (repeatable)",
        )
        parser.add_argument(
            "--from",
            dest="locations",
            metavar="LOCATIONS",
            help='where to probe from: "all", or location names, comma-separated ("local" is '
            "this hub, the default; the others are registered vantages)",
        )
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        parser.add_argument(
            "--no-save", action="store_true", help="do not store the result in the history"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        options = {k[4:]: v for k, v in opts.items() if k.startswith("opt_") and v is not None}
        try:
            for item in opts["option"]:
                name, sep, value = item.partition("=")
                if not sep or not name.strip():
                    raise ProbeOptionsError({"option": f"-o expects NAME=VALUE, got {item!r}"})
                options[name.strip()] = value
            asked = parse_from(opts["locations"])
            locations = resolve(asked)
            spec = services.probe_validate(
                kind=opts["kind"], target=opts["target"], options=options
            )
            if not is_multi(asked):  # the answer's shape follows what was asked
                data = self._run(spec, save=not opts["no_save"])
            else:
                data = self._run_at(spec, locations, save=not opts["no_save"])
        except PortalError as exc:
            details = exc.details
            if isinstance(exc, EgressForbidden):  # a shell user gets the refused address too
                details = {**details, "address": exc.address, "reason": exc.reason}
            self._refuse(opts["json"], exc.code, exc.message, details)
        if opts["json"]:
            self.stdout.write(json.dumps(data, indent=2, default=str))
        elif "results" in data:
            self.stdout.write("\n".join(location_table(data, opts["kind"], opts["target"])))
        else:
            self.stdout.write("\n".join(summary(data)))
        if not succeeded(data):
            raise SystemExit(PROBE_FAILED)

    def _refuse(self, as_json: bool, code: str, message: str, details: dict[str, Any]) -> NoReturn:
        """Nothing was run: exit 2, with the reason on stdout as JSON or on stderr as text."""
        if as_json:
            error = {"code": code, "message": message, "details": details}
            self.stdout.write(json.dumps({"error": error}, indent=2))
            raise SystemExit(USAGE_ERROR)
        raise CommandError(f"{code}: {message}", returncode=USAGE_ERROR)

    def _run(self, spec: ProbeSpec, *, save: bool) -> dict:
        if save:
            row = services.probe_run(spec=spec)
            return dict(ProbeResultSerializer(row).data)
        return {
            "id": None,
            **execute(spec, policy=get_policy(), limits=services.probe_limits()).to_dict(),
        }

    def _run_at(self, spec: ProbeSpec, locations: list[str], *, save: bool) -> dict:
        """Every location at once: the API's measurement (rows stored unless --no-save)."""
        if save:
            measurement = services.probe_run(spec=spec, locations=locations)
            return dict(MeasurementSerializer(measurement).data)
        return {
            "measurement": None,
            "results": [
                {
                    "location": outcome.location,
                    "status": outcome.status,
                    "result": None
                    if outcome.result is None
                    else {"id": None, **outcome.result.to_dict()},
                    "reason": outcome.reason,
                    "latency_ms": outcome.latency_ms,
                }
                for outcome in run_at(spec, locations)
            ],
        }


def parse_from(value: str | None) -> list[str] | None:
    """--from "all" or "a,b" -> names; None (not given) runs here, as before vantages."""
    if value is None:
        return None
    try:
        names = parse_list(value)
    except LocationsInvalid:
        raise invalid(f"--from expects location names separated by commas, got {value!r}") from None
    if not names:
        raise invalid(f"--from expects location names separated by commas, got {value!r}")
    return names


def succeeded(data: dict[str, Any]) -> bool:
    """One probe: it succeeded. A measurement: every location answered and its probe succeeded."""
    if "results" not in data:
        return data["status"] == "ok"
    return all(
        entry["status"] == "ok" and (entry["result"] or {}).get("status") == "ok"
        for entry in data["results"]
    )


def _ms(value: Any) -> str:
    return f"{value:.1f} ms" if isinstance(value, int | float) else "-"


def summary(data: dict[str, Any]) -> list[str]:
    """A few lines people read in a terminal."""
    resolved = data.get("resolved") or {}
    used = resolved.get("used") or ", ".join(resolved.get("addresses") or []) or "-"
    head = (
        f"{data['kind']} {data['target']}: {data['status'].upper()} in {_ms(data['duration_ms'])}"
    )
    lines = [f"{head} (address {used})"]
    if data.get("error"):
        lines.append(f"  error {data['error']['code']}: {data['error']['message']}")
    r = data.get("result") or {}
    kind = data["kind"]
    if kind == "http" and r.get("status_code") is not None:
        lines.append(
            f"  {r['status_code']} {r.get('reason') or ''} {r.get('http_version') or ''}"
            f" · {r.get('body_size')} bytes · {r.get('redirects', 0)} redirect(s)"
        )
        t = r.get("timings") or {}
        phases = ("dns", "connect", "tls", "ttfb", "download", "total")
        lines.append("  " + " · ".join(f"{p} {_ms(t.get(f'{p}_ms'))}" for p in phases))
    elif kind in ("tcp", "ping") and r.get("sent") is not None:
        lines.append(
            f"  {r['sent']} sent, {r['received']} received, {r['loss_percent']}% loss; "
            f"rtt min/avg/max/stddev {_ms(r.get('rtt_min_ms'))} / {_ms(r.get('rtt_avg_ms'))} / "
            f"{_ms(r.get('rtt_max_ms'))} / {_ms(r.get('rtt_stddev_ms'))}"
        )
    elif kind == "dns" and r.get("rcode"):
        lines.append(f"  {r['rcode']} from {r.get('resolver')} in {_ms(r.get('query_time_ms'))}")
        lines += [
            f"  {a['name']} {a['ttl']} {a['type']} {a['value']}" for a in r.get("answers", [])
        ]
    elif kind == "tls" and r.get("protocol"):
        cert = r.get("certificate") or {}
        lines.append(f"  {r['protocol']} {r.get('cipher')} · verified {r.get('verified')}")
        if cert:
            lines.append(
                f"  {cert.get('subject_cn')} issued by {cert.get('issuer_cn')}; "
                f"{cert.get('days_left')} day(s) left (until {cert.get('not_after')})"
            )
    elif kind == "traceroute":
        for hop in r.get("hops") or []:
            rtts = ", ".join(_ms(t) if t is not None else "*" for t in hop.get("rtts_ms", []))
            lines.append(f"  {hop['distance']:>2} {hop.get('address') or '*'} {rtts}")
    for c in r.get("conditions") or []:
        value = "" if c.get("value") is None else f"  (got {c['value']})"
        lines.append(f"  {'pass' if c.get('success') else 'FAIL'} {c.get('condition')}{value}")
    if (r.get("suggestion")) == "tcp":
        lines.append("  ICMP is not permitted here: try `netprobe tcp <host>:<port>` instead")
    return lines
