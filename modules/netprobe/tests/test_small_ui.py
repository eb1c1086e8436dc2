"""Small things the result pages used to get wrong: OpenSSL jargon without a sentence, a DNS
failure told three times with a response time, raw ISO certificate dates, "0 minutes ago"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from modules.netprobe.models import ProbeResult
from modules.netprobe.present import ago
from modules.netprobe.selectors import live_version

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("np_settings")]

PLAIN_PORT = "The server did not answer with TLS on this port — is it a plain-text port?"


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


def run(client, **fields: str) -> tuple[ProbeResult, str]:
    response = client.post("/netprobe/run/", fields)
    assert response.status_code == 302, response.content.decode()[:500]
    row = ProbeResult.objects.latest("pk")
    return row, client.get(response["Location"]).content.decode()


def facts(page: str) -> dict[str, str]:
    """The first facts list of the page (the result's own) as {label: text}."""
    block = re.search(r'<dl class="np-facts">(.*?)</dl>', page, re.S)
    assert block is not None
    pairs = re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", block.group(1), re.S)
    return {label: re.sub(r"<[^>]+>", "", text).strip() for label, text in pairs}


# --- TLS errors in words ------------------------------------------------------------------------


def test_a_tls_probe_of_a_plain_text_port_says_so_and_keeps_the_openssl_reason(
    operator_client, http_server
):
    row, page = run(operator_client, kind="tls", target=f"127.0.0.1:{http_server.port}")

    assert (row.status, row.error_code) == ("failed", "tls")
    assert row.error_message.startswith(PLAIN_PORT)
    assert "WRONG_VERSION_NUMBER" in row.error_message
    assert PLAIN_PORT in page


def test_an_https_url_on_a_plain_text_port_says_so_too(operator_client, http_server):
    target = f"https://127.0.0.1:{http_server.port}/"
    row, page = run(operator_client, kind="http", target=target)

    assert (row.status, row.error_code) == ("failed", "tls")
    assert row.error_message == f"{PLAIN_PORT} OpenSSL said WRONG_VERSION_NUMBER"
    assert PLAIN_PORT in page


def test_the_api_keeps_the_error_code_and_gains_the_sentence(operator_api, http_server):
    response = operator_api.post(
        "/api/netprobe/probes/",
        {"kind": "tls", "target": f"127.0.0.1:{http_server.port}"},
        format="json",
    )

    error = response.json()["error"]
    assert error["code"] == "tls"
    assert PLAIN_PORT in error["message"]


# --- DNS failures -------------------------------------------------------------------------------


def test_an_nxdomain_is_said_once_without_a_response_time(operator_client, dns_server):
    row, page = run(
        operator_client,
        kind="dns",
        target="missing.netprobe.test",
        **{"dns-resolver": dns_server.address},
    )

    assert (row.status, row.error_code) == ("failed", "dns")
    assert row.response_ms is not None  # the resolver's answer was timed: shown in its panel
    assert "Response" not in facts(page)
    assert "No answer records" not in page
    assert 'id="answers"' not in page
    shown = page[: page.index('class="panel np-raw"')]  # the raw JSON repeats all, as it should
    assert shown.count("does not exist") == 1
    assert re.search(r"<dt>Query time</dt><dd>[0-9.]+ ms</dd>", page)
    assert 'id="authority"' in page  # the zone's SOA: where the name would have been


def test_a_resolver_that_never_answers_leaves_only_the_resolver_beside_the_error(
    operator_client, dns_server
):
    row, page = run(
        operator_client,
        kind="dns",
        target="slow.netprobe.test",
        **{"dns-resolver": dns_server.address, "dns-timeout": "0.3"},
    )

    assert row.status == "timeout"
    assert "Response" not in facts(page)
    dns_panel = page[page.index('id="dns-title"') :]
    assert "Query time" not in dns_panel
    assert "Flags" not in dns_panel
    assert "No answer records" not in dns_panel
    assert dns_server.address.split(":")[0] in dns_panel


def test_a_successful_lookup_still_shows_its_response_time_and_answers(operator_client, dns_server):
    row, page = run(
        operator_client,
        kind="dns",
        target="www.netprobe.test",
        **{"dns-resolver": dns_server.address},
    )

    assert row.ok
    assert facts(page)["Response"].endswith(" ms")
    assert 'id="answers"' in page


# --- certificate dates --------------------------------------------------------------------------


def test_certificate_dates_read_as_dates_that_do_not_wrap(operator_client, https_server):
    target = f"127.0.0.1:{https_server.port}"
    row, page = run(operator_client, kind="tls", target=target, **{"tls-servername": "localhost"})

    not_after = datetime.fromisoformat(row.result["certificate"]["not_after"]).astimezone(UTC)
    shown = f"{not_after.day} {not_after:%b %Y, %H:%M} UTC"
    iso = row.result["certificate"]["not_after"]
    assert f'<time class="np-when" datetime="{iso}" title="{iso}">{shown}</time>' in page
    assert f"<dd>{iso}</dd>" not in page


# --- relative times -----------------------------------------------------------------------------


def test_relative_times_say_just_now_and_whole_minutes():
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    assert ago(now - timedelta(seconds=5), now) == "just now"
    assert ago(now - timedelta(seconds=59), now) == "just now"
    assert ago(now - timedelta(minutes=3, seconds=40), now) == "3 min ago"
    assert ago(now - timedelta(hours=2, minutes=5), now) == "2 h 5 min ago"
    assert ago(None) == ""


def test_a_live_part_is_redrawn_at_least_once_a_minute():
    at = datetime(2026, 1, 1, 12, 0, 10, tzinfo=UTC)

    same_minute = live_version((1, 2), now=at + timedelta(seconds=40))
    next_minute = live_version((1, 2), now=at + timedelta(seconds=55))

    assert live_version((1, 2), now=at) == same_minute
    assert next_minute != same_minute
    assert live_version((1, 3), now=at) != live_version((1, 2), now=at)
