"""The development `.env`: read by settings (the real environment wins), written by `make run`.

`make run` writes the settings it serves with (DEBUG, a SECRET_KEY generated once and kept,
PUBLIC_BASE_URL, EGRESS_ALLOWED_NETWORKS when given), so `python manage.py ...` typed beside it
sees the same portal. Only `KEY=VALUE` lines (optionally `export`ed, optionally quoted; in
double quotes `\\`, `\"` and `\n` are escapes) and `#` comments; no interpolation. Rewriting
keeps every other line as it was. Django-free: settings import it before anything is configured.

    python -m portal.dotenv [--path .env] --public-base-url http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
from pathlib import Path

LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
ESCAPE = re.compile(r"\\([\\\"nr])")
ESCAPES = {"n": "\n", "r": "\r"}
HEADER = (
    "# Development settings written by `make run` for the commands typed beside it (gitignored).\n"
    "# Real environment variables win over these. Never copy this file to a server.\n"
)


def read(path: Path) -> dict[str, str]:
    """The file's KEY=VALUE pairs; {} when there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = LINE.match(line)
        if match is None or line.lstrip().startswith("#"):
            continue
        name, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = ESCAPE.sub(lambda m: ESCAPES.get(m.group(1), m.group(1)), value[1:-1])
        elif len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        elif " #" in value:  # an inline comment after an unquoted value
            value = value.split(" #", 1)[0].rstrip()
        values[name] = value
    return values


def load(path: Path) -> None:
    """Set the file's variables that the environment does not already have."""
    for name, value in read(path).items():
        os.environ.setdefault(name, value)


def write(path: Path, *, public_base_url: str, egress: str | None) -> dict[str, str]:
    """Create or update the development settings; every line a person added is kept as written.

    SECRET_KEY is generated once: sessions and signed links survive the next `make run`."""
    values = read(path)
    changes = {}
    if "DEBUG" not in values:
        changes["DEBUG"] = "1"
    if "SECRET_KEY" not in values:
        changes["SECRET_KEY"] = secrets.token_urlsafe(50)
    changes["PUBLIC_BASE_URL"] = public_base_url
    if egress:
        changes["EGRESS_ALLOWED_NETWORKS"] = egress
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = HEADER.splitlines()
    missing = dict(changes)
    for index, line in enumerate(lines):
        match = LINE.match(line)
        if match is None or line.lstrip().startswith("#") or match.group(1) not in changes:
            continue
        name = match.group(1)
        lines[index] = f"{line[: line.index('=') + 1]}{_quote(changes[name])}"
        missing.pop(name, None)
    lines += [f"{name}={_quote(value)}" for name, value in missing.items()]
    path.touch(mode=0o600, exist_ok=True)  # it holds a secret key
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return {**values, **changes}


def _quote(value: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./:,@+=-]*", value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r") + '"'


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the development .env of `make run`.")
    parser.add_argument(
        "--path", type=Path, default=Path(__file__).resolve().parent.parent / ".env"
    )
    parser.add_argument("--public-base-url", required=True)
    args = parser.parse_args(argv)
    egress = os.environ.get("EGRESS_ALLOWED_NETWORKS", "").strip() or None
    write(args.path, public_base_url=args.public_base_url, egress=egress)


if __name__ == "__main__":
    main()
