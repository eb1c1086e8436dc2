"""`manage.py netprobe <kind> <target> [options] [--json]`: run one probe from a shell.

Exit codes: 0 the probe succeeded, 1 it ran and failed (or timed out), 2 nothing was run: a
usage error (argparse), invalid options, or a target the egress policy refuses. With --json those
last two print {"error": {"code", "message", "details"}} on stdout (the API's error envelope), so
a script reads every outcome from stdout.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError

from modules.netprobe import services
from modules.netprobe.probes import KINDS, ProbeOptionsError
from modules.netprobe.probes.catalog import described_help, options_by_name
from modules.netprobe.runner import execute
from modules.netprobe.serializers import ProbeResultSerializer
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
    help = "Run one NetProbe probe and print a summary (or --json). Exit 0 ok, 1 failed, 2 usage."

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
            data = self._run(opts["kind"], opts["target"], options, save=not opts["no_save"])
        except PortalError as exc:
            details = exc.details
            if isinstance(exc, EgressForbidden):  # a shell user gets the refused address too
                details = {**details, "address": exc.address, "reason": exc.reason}
            self._refuse(opts["json"], exc.code, exc.message, details)
        if opts["json"]:
            self.stdout.write(json.dumps(data, indent=2, default=str))
        else:
            self.stdout.write("\n".join(summary(data)))
        if data["status"] != "ok":
            raise SystemExit(PROBE_FAILED)

    def _refuse(self, as_json: bool, code: str, message: str, details: dict[str, Any]) -> NoReturn:
        """Nothing was run: exit 2, with the reason on stdout as JSON or on stderr as text."""
        if as_json:
            error = {"code": code, "message": message, "details": details}
            self.stdout.write(json.dumps({"error": error}, indent=2))
            raise SystemExit(USAGE_ERROR)
        raise CommandError(f"{code}: {message}", returncode=USAGE_ERROR)

    def _run(self, kind: str, target: str, options: dict[str, Any], *, save: bool) -> dict:
        spec = services.probe_validate(kind=kind, target=target, options=options)
        if save:
            row = services.probe_run(spec=spec)
            return dict(ProbeResultSerializer(row).data)
        return {
            "id": None,
            **execute(spec, policy=get_policy(), limits=services.probe_limits()).to_dict(),
        }


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
