#!/usr/bin/env python
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

VENV = Path(__file__).resolve().parent / ".venv"


def _use_venv() -> None:
    """`python manage.py ...` works with any python3 on PATH: without Django, re-run this
    command with the project's .venv (made by `make run`), if there is one."""
    python = VENV / "bin" / "python"
    if importlib.util.find_spec("django") is not None or not python.exists():
        return
    if os.environ.get("PORTAL_VENV_REEXEC") or Path(sys.prefix).resolve() == VENV.resolve():
        return  # already the venv's python: let the import error below say what is missing
    os.environ["PORTAL_VENV_REEXEC"] = "1"
    os.execv(python, [str(python), *sys.argv])  # noqa: S606  the same command, another python


def main() -> None:
    _use_venv()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
