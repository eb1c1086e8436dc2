"""The chart's ServiceMonitor scrapes /metrics with a viewer's token: without one, 401."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ops.crds import validate_crds
from tests.ops.support import load_docs, module_values, one

pytestmark = pytest.mark.nodb


def rendered_docs(render: Any, module: str, monitor: dict[str, Any]) -> list[dict[str, Any]]:
    values = {**module_values(module), "serviceMonitor": monitor}
    templates = render(values, f"portal-{module}")
    return [
        d for path, text in templates.items() if path.endswith(".yaml") for d in load_docs(text)
    ]


def servicemonitor(render: Any, monitor: dict[str, Any]) -> dict[str, Any]:
    return one(rendered_docs(render, "netprobe", monitor), "ServiceMonitor", "portal-netprobe")


def test_sends_the_named_secrets_token_as_bearer(render: Any) -> None:
    monitor = servicemonitor(
        render, {"enabled": True, "tokenSecret": {"name": "portal-scrape-token", "key": "token"}}
    )

    validate_crds([monitor])
    endpoint = monitor["spec"]["endpoints"][0]
    assert endpoint["path"] == "/metrics"
    assert endpoint["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": "portal-scrape-token", "key": "token"},
    }


def test_sends_no_authorization_without_a_secret(render: Any) -> None:
    monitor = servicemonitor(render, {"enabled": True})

    validate_crds([monitor])
    assert "authorization" not in monitor["spec"]["endpoints"][0]


def test_only_releases_serving_netprobe_have_one(render: Any) -> None:
    kinds = {
        module: [d["kind"] for d in rendered_docs(render, module, {"enabled": True})]
        for module in ("netprobe", "all", "sos", "faces")
    }

    assert {m: k.count("ServiceMonitor") for m, k in kinds.items()} == {
        "netprobe": 1,
        "all": 1,
        "sos": 0,
        "faces": 0,
    }
