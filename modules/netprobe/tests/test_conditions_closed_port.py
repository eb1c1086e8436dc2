"""`[CONNECTED] == false`: a condition that a port must stay closed, as in Gatus."""

from __future__ import annotations

import pytest

from modules.netprobe.probes import run_probe


def test_a_refused_connection_is_ok_when_the_conditions_expect_it(closed_port, policy):
    options = {"count": 1, "conditions": ["[CONNECTED] == false"]}

    result = run_probe("tcp", closed_port.target, options, policy=policy)

    assert result.status == "ok"
    assert result.error is None
    assert result.result["connection_error"]["code"] == "connect"  # still shown
    assert result.result["conditions"] == [
        {"condition": "[CONNECTED] == false", "success": True, "value": "false"}
    ]


def test_an_open_port_fails_a_condition_that_wants_it_closed(tcp_listener, policy):
    options = {"count": 1, "conditions": ["[CONNECTED] == false"]}

    result = run_probe("tcp", tcp_listener.target, options, policy=policy)

    assert result.status == "failed"
    assert result.error.code == "condition"


def test_a_refused_http_connection_with_other_conditions_keeps_its_error(closed_port, policy):
    url = f"http://{closed_port.target}/"
    closed = {"conditions": ["[CONNECTED] == false"]}
    unrelated = {"conditions": ["[RESPONSE_TIME] < 5000"]}

    assert run_probe("http", url, closed, policy=policy).status == "ok"
    failed = run_probe("http", url, unrelated, policy=policy)
    assert failed.status == "failed"
    assert failed.error.code == "connect"
    assert "connection_error" not in failed.result


@pytest.mark.django_db
@pytest.mark.usefixtures("np_settings")
def test_the_result_page_says_the_connection_was_refused_as_expected(closed_port, client, operator):
    client.force_login(operator)
    response = client.post(
        "/netprobe/run/",
        {"kind": "tcp", "target": closed_port.target, "tcp-conditions": "[CONNECTED] == false"},
    )

    page = client.get(response["Location"]).content.decode()

    assert "No connection, as the conditions expect" in page
    assert "connect" in page
