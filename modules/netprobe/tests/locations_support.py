"""Helpers for the tests of monitors run from several locations (quorum, pages, /metrics).

A round is played with real engine results of the loopback HTTP server (one ok, one 503), one
per location: what the fan-out hands the monitor, without vantage processes."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import pytest
from django.utils import timezone

from modules.netprobe import quorum, services
from modules.netprobe.models import Monitor, Vantage
from modules.netprobe.runner import probe_validate, run_many
from modules.netprobe.vantages.fanout import LocationOutcome

PLACES = ("local", "eu-west-1", "ap-south-1")
SECRET = "s" * 40


@pytest.fixture
def answers(np_settings: Any, http_server: Any) -> dict[str, Any]:
    """Real engine results of the loopback server: one ok, one failed (503)."""
    ok, failed = run_many(
        [
            probe_validate(kind="http", target=f"{http_server.url}/"),
            probe_validate(kind="http", target=f"{http_server.url}/status/503"),
        ]
    )
    assert ok.ok
    assert not failed.ok
    return {"ok": ok, "failed": failed}


def vantages(*names: str, url: str = "http://127.0.0.1:9/") -> None:
    for name in names:
        Vantage.objects.get_or_create(
            name=name, defaults={"region": name, "url": url, "secret": SECRET}
        )


def multi_monitor(places: tuple[str, ...] = PLACES, **fields: Any) -> Monitor:
    vantages(*[p for p in places if p != "local"])
    values = {
        "name": "shop",
        "kind": "http",
        "target": "http://shop.example/",
        "failure_threshold": 1,
        "recovery_threshold": 1,
        "locations": list(places),
    }
    return services.monitor_create(**{**values, **fields})


def fresh(result: Any) -> Any:
    """The same answer, as seen now: each round's rows have their own time."""
    return dataclasses.replace(result, started_at=timezone.now())


def play(
    m: Monitor,
    answers: dict[str, Any],
    *rounds: str,
    places: tuple[str, ...] = PLACES,
    now: datetime | None = None,
) -> list[quorum.Round]:
    """Each round is one letter per location of `places`: o ok, x failed, ? unavailable."""
    spec = probe_validate(**m.spec())
    played = []
    for letters in rounds:
        outcomes = [
            LocationOutcome(place, "vantage_unavailable", None, "connection refused")
            if letter == "?"
            else LocationOutcome(place, "ok", fresh(answers["ok" if letter == "o" else "failed"]))
            for place, letter in zip(places, letters, strict=True)
        ]
        played.append(quorum.monitor_record_round(monitor=m, spec=spec, outcomes=outcomes, now=now))
    return played
