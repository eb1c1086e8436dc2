"""The README's table of error codes is the list clients switch on: it names every code the
API can answer with, and nothing it cannot."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import modules
import portal
from portal.api import CODES
from portal.errors import PortalError

ROOT = Path(__file__).resolve().parents[1]
# Answered by Django-level handlers and the schema's generic statuses, not by a PortalError.
LITERAL_CODE = re.compile(r"""(?:json_error\([^,]+,\s*\d{3},\s*|code=)"([a-z_]+)\"""")


def readme_codes() -> set[str]:
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| status | codes |") :].split("\n\n", 1)[0]
    return set(re.findall(r"`([a-z_]+)`", table))


def _load_every_module() -> None:
    for package in (portal, modules):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if not re.search(r"\.(tests|migrations|management)\b", info.name):
                importlib.import_module(info.name)


# Bases that only give their subclasses a status; never raised as they are.
ABSTRACT = {"PortalError", "SosError", "ImageError", "Unavailable"}


def _subclasses(cls: type[PortalError]) -> set[type[PortalError]]:
    found: set[type[PortalError]] = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def code_codes() -> set[str]:
    _load_every_module()
    codes = {cls.code for cls in _subclasses(PortalError) if cls.__name__ not in ABSTRACT}
    codes |= set(CODES.values()) | {"server_error"}
    for path in [*(ROOT / "portal").rglob("*.py"), *(ROOT / "modules").rglob("*.py")]:
        if "tests" not in path.parts and "migrations" not in path.parts:
            codes |= set(LITERAL_CODE.findall(path.read_text()))
    return codes


def test_every_error_code_the_code_can_answer_is_in_the_readme():
    assert code_codes() - readme_codes() == set()


def test_the_readme_names_no_code_the_code_cannot_answer():
    assert readme_codes() - code_codes() == set()
