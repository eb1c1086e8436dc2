"""Conditions on real probes: against the loopback HTTP(S), DNS and TCP servers, through the API
(a bad condition is a 400 with its position), the result page, the monitor form and the CLI."""

from __future__ import annotations

import json
import re
from io import StringIO
from urllib.parse import quote

import pytest
from django.core.management import call_command

from modules.netprobe.models import Monitor, ProbeResult
from modules.netprobe.probes import ProbeOptionsError, run_probe

PROBES = "/api/netprobe/probes/"
MONITORS = "/api/netprobe/monitors/"
HEALTH = {"status": "UP", "data": [{"id": 1}, {"id": 2}], "version": "1.4.2"}


def json_url(server, payload) -> str:
    return f"{server.url}/text?body={quote(json.dumps(payload))}&type=application/json"


def outcomes(result) -> dict[str, tuple[bool, str | None]]:
    return {c["condition"]: (c["success"], c["value"]) for c in result["conditions"]}


# --- the engine -------------------------------------------------------------------------------


def test_http_conditions_read_the_status_the_json_body_and_any_header(http_server, policy):
    conditions = [
        "[STATUS] == 200",
        "[BODY].status == UP",
        "len([BODY].data) < 5",
        "[BODY].data[0].id == 1",
        "[BODY].version == pat(1.4.*)",
        "[HEADERS].Content-Type == application/json",
        "[RESPONSE_TIME] < 5000",
        "[CONNECTED] == true",
        "[IP] == 127.0.0.1",
    ]
    result = run_probe(
        "http", json_url(http_server, HEALTH), {"conditions": conditions}, policy=policy
    )

    assert result.status == "ok", result.error
    got = outcomes(result.result)
    assert list(got) == conditions
    assert all(success for success, _ in got.values())
    assert got["[BODY].status == UP"] == (True, "UP")
    assert got["len([BODY].data) < 5"] == (True, "2")
    assert got["[IP] == 127.0.0.1"] == (True, "127.0.0.1")


def test_a_failed_condition_fails_the_probe_with_code_condition(http_server, policy):
    conditions = ["[STATUS] == 200", "[BODY].status == DOWN", "[BODY].data[5].id == 1"]
    result = run_probe(
        "http", json_url(http_server, HEALTH), {"conditions": conditions}, policy=policy
    )

    assert result.status == "failed"
    assert result.error.code == "condition"
    assert result.error.message == ("condition failed: [BODY].status (UP) == DOWN (and 1 more)")
    assert [c["success"] for c in result.result["conditions"]] == [True, False, False]
    assert result.result["conditions"][2]["value"] is None  # no such path


def test_a_header_the_result_does_not_keep_is_still_readable(http_server, policy):
    result = run_probe(
        "http",
        f"{http_server.url}/headers",
        {"conditions": ["[HEADERS].x-not-selected == hidden"]},
        policy=policy,
    )

    assert result.status == "ok", result.error
    assert "x-not-selected" not in result.result["headers"]


def test_status_conditions_replace_the_default_accepted_statuses(http_server, policy):
    url = f"{http_server.url}/status/404"
    decided = run_probe("http", url, {"conditions": ["[STATUS] == 404"]}, policy=policy)
    other = run_probe("http", url, {"conditions": ["[RESPONSE_TIME] < 5000"]}, policy=policy)
    explicit = run_probe(
        "http", url, {"conditions": ["[STATUS] == 404"], "expect_status": ["2xx"]}, policy=policy
    )
    wrong = run_probe(
        "http", f"{http_server.url}/", {"conditions": ["[STATUS] > 400"]}, policy=policy
    )

    assert decided.status == "ok", decided.error
    assert (other.status, other.error.code) == ("failed", "http")  # 200-399 still applies
    assert (explicit.status, explicit.error.code) == ("failed", "http")  # expect_status wins
    assert (wrong.status, wrong.error.code) == ("failed", "condition")


def test_the_body_text_and_a_pattern(http_server, policy):
    result = run_probe(
        "http",
        f"{http_server.url}/",
        {"conditions": ["[BODY] == pat(*from netprobe*)", "[BODY] != pat(*<h1>*)"]},
        policy=policy,
    )

    assert result.status == "ok", result.error
    assert result.result["conditions"][0]["value"] == "hello from netprobe"


def test_certificate_expiration_on_https_and_tls(https_server, pki, policy):
    target = f"127.0.0.1:{https_server.port}"
    conditions = ["[CERTIFICATE_EXPIRATION] > 48h", "[CONNECTED] == true"]
    tls = run_probe(
        "tls", target, {"conditions": conditions}, policy=policy, ca_file=str(pki.ca_file)
    )
    https = run_probe(
        "http",
        f"https://{target}/",
        {"conditions": [*conditions, "[CERTIFICATE_EXPIRATION] < 1h"]},
        policy=policy,
        ca_file=str(pki.ca_file),
    )

    assert tls.status == "ok", tls.error
    assert re.fullmatch(r"\d+h(\d+m)?(\d+s)?", tls.result["conditions"][0]["value"])
    assert [c["success"] for c in https.result["conditions"]] == [True, True, False]
    assert https.error.code == "condition"


def test_dns_conditions_on_the_answer_and_the_rcode(dns_server, policy):
    def query(target, record_type, *conditions):
        options = {"record_type": record_type, "resolver": dns_server.address}
        return run_probe("dns", target, {**options, "conditions": list(conditions)}, policy=policy)

    answer = query("www.netprobe.test", "A", "[BODY] == 127.0.0.1", "[DNS_RCODE] == NOERROR")
    mail = query("netprobe.test", "MX", "[BODY] == mail.netprobe.test.")
    absent = query("nothing.netprobe.test", "A", "[DNS_RCODE] == NXDOMAIN")
    expected = query("nothing.netprobe.test", "A", "[DNS_RCODE] == NOERROR")
    plain = query("nothing.netprobe.test", "A", "[RESPONSE_TIME] < 5000")

    assert answer.status == "ok", answer.error
    assert mail.status == "ok", mail.error
    assert absent.status == "ok", absent.error  # conditions on [DNS_RCODE] decide
    assert expected.error.code == "condition"
    assert expected.result["conditions"][0]["value"] == "NXDOMAIN"
    assert plain.error.code == "dns"  # without them NXDOMAIN fails as before


def test_tcp_conditions_and_a_probe_that_did_not_connect(tcp_listener, closed_port, policy):
    options = {"count": 1, "conditions": ["[CONNECTED] == true", "[RESPONSE_TIME] < 5000"]}
    up = run_probe("tcp", tcp_listener.target, options, policy=policy)
    down = run_probe("tcp", closed_port.target, options, policy=policy)

    assert up.status == "ok", up.error
    assert down.error.code == "connect"  # its own error, not the condition's
    assert outcomes(down.result)["[CONNECTED] == true"] == (False, "false")


@pytest.mark.parametrize(
    ("kind", "target", "conditions", "words"),
    [
        (
            "http",
            "https://example.com/",
            ["[STATUS] = 200"],
            "condition 1 ([STATUS] = 200) at position 9",
        ),
        ("tcp", "example.com:443", ["[STATUS] == 200"], "not available"),
        ("dns", "example.com", ["[CONNECTED] == true", "[DNS_RCODE] == "], "condition 2"),
        ("tls", "example.com", "[DOMAIN_EXPIRATION] > 720h", "RDAP or WHOIS"),
        ("ping", "example.com", ["[CONNECTED] == true"] * 21, "at most 20"),
        ("http", "https://example.com/", ["[BODY].a == " + "x" * 500], "at most 500"),
        ("http", "https://example.com/", [200], "list of strings"),
    ],
)
def test_bad_conditions_are_option_errors(policy, kind, target, conditions, words):
    with pytest.raises(ProbeOptionsError) as caught:
        run_probe(kind, target, {"conditions": conditions}, policy=policy)

    assert words in caught.value.errors["conditions"]


# --- the API, the pages and the CLI ---------------------------------------------------------


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.mark.usefixtures("np_settings")
def test_the_api_runs_a_probe_with_conditions(operator_api, http_server):
    payload = {
        "kind": "http",
        "target": json_url(http_server, HEALTH),
        "conditions": ["[STATUS] == 200", "[BODY].status == UP"],
    }
    response = operator_api.post(PROBES, payload, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert body["options"]["conditions"] == ["[STATUS] == 200", "[BODY].status == UP"]
    assert body["result"]["conditions"][1] == {
        "condition": "[BODY].status == UP",
        "success": True,
        "value": "UP",
    }


@pytest.mark.usefixtures("np_settings")
def test_the_api_answers_a_failed_condition_as_a_failed_probe(operator_api, http_server):
    payload = {"kind": "http", "target": f"{http_server.url}/", "conditions": ["[STATUS] == 201"]}
    body = operator_api.post(PROBES, payload, format="json").json()

    assert body["status"] == "failed"
    assert body["error"] == {
        "code": "condition",
        "message": "condition failed: [STATUS] (200) == 201",
    }


@pytest.mark.usefixtures("np_settings")
def test_a_bad_condition_is_a_400_with_its_position(operator_api):
    payload = {
        "kind": "http",
        "target": "https://example.com/",
        "conditions": ["[BODY].a == 1 == 2"],
    }
    probe = operator_api.post(PROBES, payload, format="json")
    monitor = operator_api.post(
        MONITORS,
        {
            "name": "health",
            "kind": "http",
            "target": "https://example.com/",
            "options": {"conditions": ["[STATUS] == 200", "[STAUS] == 200"]},
            "interval_s": 60,
        },
        format="json",
    )

    assert probe.status_code == 400
    error = probe.json()["error"]
    assert error["code"] == "validation_error"
    (message,) = error["details"]["fields"]["conditions"]
    assert message.startswith("condition 1 ([BODY].a == 1 == 2) at position 14: a second ==")
    assert monitor.status_code == 400
    assert monitor.json()["error"]["code"] == "validation_error"
    (message,) = monitor.json()["error"]["details"]["fields"]["options"]["conditions"]
    assert message.startswith("condition 2 ([STAUS] == 200) at position 0: unknown placeholder")
    assert not ProbeResult.objects.exists()
    assert not Monitor.objects.exists()


@pytest.mark.usefixtures("np_settings")
def test_a_monitor_goes_down_on_a_failed_condition(db, http_server):
    from modules.netprobe import services

    monitor = services.monitor_create(
        name="health",
        kind="http",
        target=json_url(http_server, HEALTH),
        options={"conditions": ["[STATUS] == 200", "[BODY].status == DOWN"]},
        interval_s=60,
        failure_threshold=1,
        recovery_threshold=1,
    )

    summary = services.monitor_run_due()

    monitor.refresh_from_db()
    assert (summary.ran, summary.failed) == (1, 1)
    assert monitor.state == "down"
    assert monitor.last_result.error_code == "condition"
    assert monitor.last_result.result["conditions"][1]["value"] == "UP"
    reason = monitor.transitions.get().reason
    assert "condition: condition failed: [BODY].status (UP) == DOWN" in reason


@pytest.mark.usefixtures("np_settings")
def test_the_result_page_shows_each_outcome(operator_client, http_server):
    response = operator_client.post(
        "/netprobe/run/",
        {
            "kind": "http",
            "target": json_url(http_server, HEALTH),
            "http-conditions": "[STATUS] == 200\r\n\r\n[BODY].status == DOWN\r\n",
        },
    )
    row = ProbeResult.objects.get()
    page = operator_client.get(response["Location"]).content.decode()

    assert row.options["conditions"] == ["[STATUS] == 200", "[BODY].status == DOWN"]
    assert row.error_code == "condition"
    assert 'id="conditions"' in page
    assert '<li data-success="true">' in page
    assert '<li data-success="false">' in page
    assert "got <code>UP</code>" in page
    assert "✗" in page
    assert "✓" in page


@pytest.mark.usefixtures("np_settings")
def test_the_monitor_form_takes_conditions_one_per_line(operator_client, http_server):
    blank = operator_client.get("/netprobe/monitors/new/").content.decode()
    data = {
        "name": "Health",
        "kind": "http",
        "target": f"{http_server.url}/",
        "interval_s": "60",
        "failure_threshold": "2",
        "recovery_threshold": "1",
        "cert_expiry_days": "14",
        "enabled": "on",
        "http-conditions": "[STATUS] == 200\n[BODY] == pat(*netprobe*)",
    }
    created = operator_client.post("/netprobe/monitors/new/", data)
    monitor = Monitor.objects.get()
    edit = operator_client.get(f"/netprobe/monitors/{monitor.pk}/edit/").content.decode()
    bad = operator_client.post(
        f"/netprobe/monitors/{monitor.pk}/edit/", {**data, "http-conditions": "[STATUS] =="}
    )

    assert '<textarea id="id_http-conditions" name="http-conditions"' in blank
    assert created.status_code == 302
    assert monitor.options["conditions"] == ["[STATUS] == 200", "[BODY] == pat(*netprobe*)"]
    assert "[STATUS] == 200\n[BODY] == pat(*netprobe*)</textarea>" in edit
    assert bad.status_code == 400
    assert "at position 9" in bad.content.decode()


@pytest.mark.django_db
@pytest.mark.usefixtures("np_settings")
def test_the_cli_takes_repeated_condition_flags(http_server):
    out = StringIO()
    call_command(
        "netprobe",
        "http",
        f"{http_server.url}/",
        "--condition",
        "[STATUS] == 200",
        "--condition",
        "[BODY] == pat(*netprobe*)",
        "--json",
        stdout=out,
    )
    failing = StringIO()
    with pytest.raises(SystemExit) as caught:
        call_command(
            "netprobe",
            "http",
            f"{http_server.url}/",
            "--condition",
            "[STATUS] == 500",
            stdout=failing,
        )

    data = json.loads(out.getvalue())
    assert data["status"] == "ok"
    assert [c["success"] for c in data["result"]["conditions"]] == [True, True]
    assert caught.value.code == 1
    assert "error condition: condition failed: [STATUS] (200) == 500" in failing.getvalue()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.usefixtures("np_settings")
def test_an_operator_writes_conditions_in_the_form_and_reads_the_outcomes(
    chromium, live_server, transactional_db, artifacts_dir, http_server
):
    from portal.test import browser_login, browser_page, make_user

    make_user("olivia", role="operator")
    with browser_page(live_server.url) as page:
        browser_login(page, "olivia")
        page.goto("/netprobe/")
        page.fill("#id_target", json_url(http_server, HEALTH))
        page.fill(
            "#id_http-conditions", "[STATUS] == 200\n[BODY].status == DOWN\n[BODY].data[9].id == 1"
        )
        page.click("#run-button")
        page.wait_for_selector("#conditions")

        assert page.locator("#result-status").inner_text().lower() == "failed"
        rows = page.locator("#conditions li")
        assert [rows.nth(i).get_attribute("data-success") for i in range(3)] == [
            "true",
            "false",
            "false",
        ]
        assert "got UP" in rows.nth(1).inner_text()
        assert "not found" in rows.nth(2).inner_text()
        page.set_viewport_size({"width": 390, "height": 844})
        width = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=str(artifacts_dir / "netprobe-conditions.png"), full_page=True)
        assert width <= 390
        assert not [e for e in page.console_errors if "Content Security Policy" in e]
