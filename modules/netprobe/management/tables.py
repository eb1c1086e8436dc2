"""The terminal table of a measurement from several locations (`manage.py netprobe --from`).

One row per location, fastest first (a location that could not answer last): its status, the
kind's key timings, the total, and why a location failed or could not answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Column = tuple[str, Callable[[dict[str, Any]], Any]]


def _timing(phase: str) -> Callable[[dict[str, Any]], Any]:
    return lambda r: (r.get("timings") or {}).get(f"{phase}_ms")


def _hops(r: dict[str, Any]) -> Any:
    hops = r.get("hops")
    return len(hops) if isinstance(hops, list) else None


def _days_left(r: dict[str, Any]) -> Any:
    return (r.get("certificate") or {}).get("days_left")


# The kind's key figures: (header, reader of the result's kind-specific part).
KIND_COLUMNS: dict[str, Sequence[Column]] = {
    "http": [(p, _timing(p)) for p in ("dns", "connect", "tls", "ttfb")],
    "tcp": [
        ("loss %", lambda r: r.get("loss_percent")),
        ("rtt min", lambda r: r.get("rtt_min_ms")),
        ("rtt avg", lambda r: r.get("rtt_avg_ms")),
        ("rtt max", lambda r: r.get("rtt_max_ms")),
    ],
    "dns": [("rcode", lambda r: r.get("rcode")), ("query", lambda r: r.get("query_time_ms"))],
    "tls": [
        ("connect", _timing("connect")),
        ("handshake", _timing("handshake")),
        ("days left", _days_left),
    ],
    "traceroute": [("hops", _hops)],
}
KIND_COLUMNS["ping"] = KIND_COLUMNS["tcp"]
MS_HEADERS = {
    "dns",
    "connect",
    "tls",
    "ttfb",
    "rtt min",
    "rtt avg",
    "rtt max",
    "query",
    "handshake",
}


def _cell(header: str, value: Any) -> str:
    if value is None:
        return "-"
    if header in MS_HEADERS and isinstance(value, int | float):
        return f"{value:.1f}"
    return str(value)


def _total(entry: dict[str, Any]) -> float:
    result = entry.get("result") or {}
    duration = result.get("duration_ms")
    return float(duration) if isinstance(duration, int | float) else float("inf")


def _why(entry: dict[str, Any]) -> str:
    if entry["status"] != "ok":
        return entry.get("reason") or "vantage unavailable"
    error = (entry.get("result") or {}).get("error")
    return f"{error['code']}: {error['message']}" if error else ""


def location_table(data: dict[str, Any], kind: str, target: str) -> list[str]:
    """Lines of text: a heading, then the table (columns padded to their widest cell)."""
    entries = sorted(data["results"], key=_total)
    columns = KIND_COLUMNS.get(kind, [])
    header = ["location", "status", *(name for name, _ in columns), "total ms", "reason"]
    rows = [header]
    for entry in entries:
        result = entry.get("result") or {}
        status = result.get("status", "?") if entry["status"] == "ok" else "unavailable"
        figures = [_cell(name, read(result.get("result") or {})) for name, read in columns]
        total = "-" if _total(entry) == float("inf") else f"{_total(entry):.1f}"
        rows.append([entry["location"], status, *figures, total, _why(entry)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    answered = sum(1 for e in entries if e["status"] == "ok")
    ok = sum(
        1 for e in entries if e["status"] == "ok" and (e["result"] or {}).get("status") == "ok"
    )
    lines = [
        f"{kind} {target} from {len(entries)} locations: {ok} ok, "
        f"{answered - ok} failed, {len(entries) - answered} unavailable"
    ]
    for row in rows:
        # Text columns left-aligned, figures right-aligned; the reason is last and unpadded.
        cells = [
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row[:-1], widths[:-1], strict=True))
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return lines
