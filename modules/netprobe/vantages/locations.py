"""Location names, read one way everywhere: probes, batches, monitors, the forms and the CLI.

`local` is the hub itself (and the default); `all` is the hub and every enabled vantage, and
means nothing next to other names: ["all", "eu"] is refused rather than guessed at. An unknown
name is refused naming it, all with the API's 400 `validation_error` under
details.fields.locations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modules.netprobe.models import LOCAL
from portal.errors import PortalError

ALL = "all"
MAX_LOCATIONS = 64


class FieldsInvalid(PortalError):
    """Invalid fields of a request about vantages or locations, answered like the API's own
    validation errors: details.fields.<name> is a list of messages. `errors` maps each field to
    its message (or already a list of them)."""

    code = "validation_error"
    status = 400

    def __init__(self, errors: Mapping[str, Any], message: str | None = None) -> None:
        self.errors = dict(errors)
        fields = {k: v if isinstance(v, list | dict) else [v] for k, v in self.errors.items()}
        text = message or "; ".join(f"{k}: {v}" for k, v in self.errors.items())
        super().__init__(text, details={"fields": fields})


# Every name for it is this one class: `except LocationsInvalid` catches a vantage's too.
LocationsInvalid = FieldsInvalid


def invalid(message: str) -> FieldsInvalid:
    """The error of a bad `locations`, its message as given."""
    return FieldsInvalid({"locations": message}, message)


def parse_list(value: str) -> list[str]:
    """ "eu-west-1, ap-south-1" -> the names; an empty item ("a,,b", "a,") is refused."""
    if not value.strip():
        return []
    names = [name.strip() for name in value.split(",")]
    if not all(names):
        raise invalid(f"expected location names separated by commas, got {value!r}")
    return names


def normalize(names: Any) -> list[str]:
    """Names as given (a list, a comma list, or None) -> stripped, without duplicates, in
    order; [] means the hub alone. Raises LocationsInvalid for anything else, and for "all"
    next to other names."""
    if names is None:
        return []
    if isinstance(names, str):
        names = parse_list(names)
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise invalid("locations must be a list of location names")
    wanted = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    if len(wanted) > MAX_LOCATIONS:
        raise invalid(f"at most {MAX_LOCATIONS} locations")
    if ALL in wanted and len(wanted) > 1:
        others = ", ".join(repr(n) for n in wanted if n != ALL)
        raise invalid(f"'all' already names every location: drop it or drop {others}")
    return wanted


def is_multi(names: Any) -> bool:
    """Whether a request asks for more than the hub, by what it asked (not by what "all" finds
    today): anything but nothing or exactly ["local"] is answered in the `results` shape."""
    try:
        return normalize(names) not in ([], [LOCAL])
    except LocationsInvalid:
        return True


def enabled_vantages() -> list[str]:
    from modules.netprobe.models import Vantage

    rows = Vantage.objects.filter(enabled=True).order_by("name")
    return list(rows.values_list("name", flat=True))


def resolve(
    names: Any,
    *,
    enabled: Sequence[str] | None = None,
    allow_disabled: bool = False,
    check: bool = True,
) -> list[str]:
    """The names to run at: [] is ["local"], ["all"] is "local" and every enabled vantage (read
    now, so one added later joins). With `check`, an unknown name (or a disabled one, unless
    `allow_disabled`: a monitor naming it stays editable) raises LocationsInvalid naming it;
    without, names are kept as given (a vantage deleted since answers unavailable)."""
    wanted = normalize(names)
    if not wanted:
        return [LOCAL]
    if wanted == [ALL] or (check and any(n != LOCAL for n in wanted)):
        enabled = enabled_vantages() if enabled is None else list(enabled)
    if wanted == [ALL]:
        return [LOCAL, *(enabled or [])]
    if check:
        known = {LOCAL, *(enabled or [])}
        if allow_disabled:
            known |= _registered(wanted)
        unknown = [n for n in wanted if n not in known]
        if unknown:
            listed = ", ".join(repr(n) for n in unknown)
            choices = ", ".join([LOCAL, ALL, *(enabled or [])])
            raise invalid(f"unknown or disabled location {listed} (known: {choices})")
    return wanted


def _registered(names: Sequence[str]) -> set[str]:
    from modules.netprobe.models import Vantage

    return set(Vantage.objects.filter(name__in=names).values_list("name", flat=True))
