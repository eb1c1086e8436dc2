"""The condition language: Gatus's README examples, quoted verbatim, parse and mean the same here;
bad conditions are refused with the position of the mistake."""

from __future__ import annotations

import json
import time

import pytest

from modules.netprobe.conditions import ConditionError, Facts, evaluate, parse
from modules.netprobe.condvalues import format_duration, glob_match, parse_duration_ms

HOUR_MS = 3_600_000


def holds(condition: str, **facts) -> bool:
    return evaluate(parse(condition), Facts(**facts)).success


def body(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# README.md, "### Conditions": | Condition | Description | Passing values | Failing values |
# Each row: the condition as quoted, the fact it reads, the passing and the failing values.
CONDITIONS_TABLE = [
    ("[STATUS] == 200", "status", [200], [201, 404]),
    ("[STATUS] < 300", "status", [200, 201, 299], [301, 302]),
    ("[STATUS] <= 299", "status", [200, 201, 299], [301, 302]),
    ("[STATUS] > 400", "status", [401, 402, 403, 404], [400, 200]),
    ("[STATUS] == any(200, 429)", "status", [200, 429], [201, 400]),
    ("[CONNECTED] == true", "connected", [True], [False]),
    ("[RESPONSE_TIME] < 500", "response_time_ms", [100, 200, 300], [500, 501]),
    ("[IP] == 127.0.0.1", "ip", ["127.0.0.1"], ["0.0.0.0"]),
    ("[BODY] == 1", "body", ["1"], ["{}", "2"]),
    ("[BODY].user.name == john", "body", [{"user": {"name": "john"}}], []),
    ("[BODY].data[0].id == 1", "body", [{"data": [{"id": 1}]}], []),
    ("[BODY].age == [BODY].id", "body", [{"age": 1, "id": 1}], []),
    ("len([BODY].data) < 5", "body", [{"data": [{"id": 1}]}], []),
    ("len([BODY].name) == 8", "body", [{"name": "john.doe"}], [{"name": "bob"}]),
    ("has([BODY].errors) == false", "body", [{"name": "john.doe"}], [{"errors": []}]),
    ("has([BODY].users) == true", "body", [{"users": []}], [{}]),
    ("[BODY].name == pat(john*)", "body", [{"name": "john.doe"}], [{"name": "bob"}]),
    ("[BODY].id == any(1, 2)", "body", [{"id": 1}, {"id": 2}], [{"id": 3}, {"id": 4}, {"id": 5}]),
    (
        "[CERTIFICATE_EXPIRATION] > 48h",
        "certificate_expiration_ms",
        [49 * HOUR_MS, 50 * HOUR_MS, 123 * HOUR_MS],
        [1 * HOUR_MS, 24 * HOUR_MS],
    ),
]


@pytest.mark.parametrize(("condition", "fact", "passing", "failing"), CONDITIONS_TABLE)
def test_the_readme_conditions_table_means_the_same(condition, fact, passing, failing):
    for value in passing:
        given = body(value) if fact == "body" else value
        assert holds(condition, **{fact: given}), (condition, value)
    for value in failing:
        given = body(value) if fact == "body" else value
        assert not holds(condition, **{fact: given}), (condition, value)


def test_the_readme_simple_example_holds_for_a_healthy_endpoint():
    # README.md, "Here's a simple example:" (twin.sh/health and example.org)
    health = Facts(status=200, body='{"status":"UP"}', response_time_ms=120)
    page = Facts(status=200, body="<html><h1>Example Domain</h1><p>...</p></html>")

    for condition in ("[STATUS] == 200", "[BODY].status == UP", "[RESPONSE_TIME] < 300"):
        assert evaluate(parse(condition), health).success, condition
    for condition in ("[STATUS] == 200", "[BODY] == pat(*<h1>Example Domain</h1>*)"):
        assert evaluate(parse(condition), page).success, condition
    down = Facts(status=200, body='{"status":"DOWN"}', response_time_ms=450)
    assert not evaluate(parse("[BODY].status == UP"), down).success
    assert not evaluate(parse("[RESPONSE_TIME] < 300"), down).success


def test_the_readme_functions_table_examples():
    # README.md, "#### Functions": the Example column.
    assert holds("len([BODY].username) > 8", body='{"username":"john.doe.2"}')
    assert not holds("len([BODY].username) > 8", body='{"username":"john"}')
    assert holds("has([BODY].errors) == false", body='{"ok":true}')
    assert holds("[IP] == pat(192.168.*)", ip="192.168.0.232")
    assert not holds("[IP] == pat(192.168.*)", ip="10.0.0.1")
    assert holds("[BODY].ip == any(127.0.0.1, ::1)", body='{"ip":"::1"}')
    assert not holds("[BODY].ip == any(127.0.0.1, ::1)", body='{"ip":"::2"}')
    # "> Use `pat` only when you need to. `[STATUS] == pat(2*)` is a lot more expensive than
    # `[STATUS] < 300`." -- both say the same of a 204 and a 404.
    for status, expected in ((204, True), (404, False)):
        assert holds("[STATUS] == pat(2*)", status=status) is expected
        assert holds("[STATUS] < 300", status=status) is expected


def test_the_readme_dns_tls_and_tcp_examples():
    # "Monitoring an endpoint using DNS queries", "... using TLS", "... a TCP endpoint"
    answer = Facts(body="93.184.215.14", dns_rcode="NOERROR", connected=True)
    assert evaluate(parse("[BODY] == 93.184.215.14"), answer).success
    assert evaluate(parse("[DNS_RCODE] == NOERROR"), answer).success
    assert not evaluate(parse("[DNS_RCODE] == NOERROR"), Facts(dns_rcode="NXDOMAIN")).success
    tls = Facts(connected=True, certificate_expiration_ms=300 * HOUR_MS)
    for condition in (
        "[CONNECTED] == true",
        "[CERTIFICATE_EXPIRATION] > 48h",
        "[CERTIFICATE_EXPIRATION] > 240h",
    ):
        assert evaluate(parse(condition), tls).success, condition
    assert not holds("[CONNECTED] == true", connected=False)


def test_domain_expiration_is_refused_with_the_reason():
    # "[DOMAIN_EXPIRATION] > 720h" needs RDAP/WHOIS, a query to a registry no probe makes.
    with pytest.raises(ConditionError) as caught:
        parse("[DOMAIN_EXPIRATION] > 720h")

    assert caught.value.position == 0
    assert "RDAP or WHOIS" in caught.value.message


def test_equality_compares_integers_as_integers_and_everything_else_as_text():
    assert holds("[BODY].n == 0x1F", body='{"n": 31}')  # strconv.ParseInt(s, 0, 64)
    assert holds("[BODY].n == 31", body='{"n": 31.0}')  # Go prints float64 31 as "31"
    assert not holds("[BODY].v == 1.0", body='{"v": 1}')  # not two integers: text
    assert not holds("[BODY].status == up", body='{"status": "UP"}')  # case matters
    assert holds("[BODY].flag == true", body='{"flag": true}')
    assert holds("[BODY].name == john doe", body='{"name": "john doe"}')  # spaces in a value


def test_ordering_reads_durations_integers_and_truncated_floats():
    assert holds("[RESPONSE_TIME] < 300ms", response_time_ms=299.9)
    assert holds("[RESPONSE_TIME] <= 300", response_time_ms=300.7)  # whole ms, as Gatus
    assert holds("[CERTIFICATE_EXPIRATION] >= 1h30m", certificate_expiration_ms=90 * 60_000)
    assert not holds("[CERTIFICATE_EXPIRATION] > 1h30m", certificate_expiration_ms=90 * 60_000)
    assert holds("[BODY].load < 2", body='{"load": 1.9}')  # 1.9 truncates to 1
    assert not holds("[BODY].name > 5", body='{"name": "john"}')  # not a number: 0


def test_durations_read_and_print_as_go_does():
    assert parse_duration_ms("48h") == 48 * HOUR_MS
    assert parse_duration_ms("1h30m") == 90 * 60_000
    assert parse_duration_ms("300ms") == 300
    assert parse_duration_ms("1.5s") == 1500
    assert parse_duration_ms("-2m") == -120_000
    assert parse_duration_ms("300") is None  # a number, not a duration
    assert parse_duration_ms("h") is None
    assert [format_duration(ms) for ms in (336 * HOUR_MS, 90 * 60_000, 3_615_000, 10_000, 0)] == [
        "336h",
        "1h30m",
        "1h0m15s",
        "10s",
        "0s",
    ]


def test_a_json_path_that_does_not_resolve_is_invalid_not_an_error():
    outcome = evaluate(parse("[BODY].data[3].id == 1"), Facts(body='{"data": [{"id": 1}]}'))
    not_json = evaluate(parse("[BODY].status == UP"), Facts(body="<html>"))

    assert (outcome.success, outcome.value) == (False, None)
    assert outcome.shown == "[BODY].data[3].id (INVALID) == 1"
    assert not not_json.success
    assert holds("[BODY].missing != 1", body="{}")  # as Gatus: "... (INVALID)" is not "1"
    assert not holds("has([BODY].gone) == true", body='{"gone": null}')


def test_a_body_nested_too_deep_for_json_is_not_a_crash():
    deep = "[" * 100_000 + "]" * 100_000

    assert not holds("[BODY][0] == 1", body=deep)
    assert holds("len([BODY]) == 200000", body=deep)
    assert not holds("has([BODY][0]) == true", body=deep)


def test_len_counts_array_elements_and_characters():
    assert holds("len([BODY]) == 3", body="[1, 2, 3]")
    assert holds("len([BODY]) == 5", body="hello")
    assert holds("len([BODY].user) == 13", body='{"user": {"name": "jo"}}')  # {"name":"jo"}
    assert holds("len([HEADERS].etag) == 10", headers={"etag": '"netprobe"'})


def test_headers_are_read_by_name_whatever_the_case():
    facts = Facts(headers={"content-type": "application/json; charset=utf-8"})

    assert evaluate(parse("[HEADERS].Content-Type == pat(*json*)"), facts).success
    assert evaluate(parse("has([HEADERS].x-request-id) == false"), facts).success
    assert not evaluate(parse("[HEADERS].x-request-id == abc"), facts).success


def test_placeholders_are_case_insensitive_and_functions_are_not():
    assert holds("[status] == 200", status=200)
    assert holds("[Body].Name == x", body='{"Name": "x"}')  # the path keeps its case
    with pytest.raises(ConditionError) as caught:
        parse("LEN([BODY].data) == 1")

    assert "lower case" in caught.value.message


def test_pat_follows_go_filepath_match():
    assert glob_match("*cat*", "concatenate")
    assert glob_match("c?t", "cat")
    assert not glob_match("c?t", "cart")
    assert glob_match("[a-c]at", "bat")
    assert not glob_match("[^a-c]at", "bat")
    assert glob_match("\\*literal", "*literal")
    assert glob_match("*", "")
    assert glob_match("a*b*c", "a\nb\nc")  # "*" crosses lines
    assert glob_match("https:*example.com*", "https://example.com/x")  # "/" is dropped
    assert not glob_match("*cat*", "dog")


def test_pat_is_linear_on_a_hostile_body():
    pattern = "*a" * 40 + "*b"
    text = "a" * 65_536
    t0 = time.perf_counter()

    assert not glob_match(pattern, text)
    assert time.perf_counter() - t0 < 2.0


def test_the_outcome_keeps_the_resolved_value_short():
    facts = Facts(body="x" * 5000, certificate_expiration_ms=50 * HOUR_MS)

    long = evaluate(parse("[BODY] == pat(*y*)"), facts)
    cert = evaluate(parse("[CERTIFICATE_EXPIRATION] > 48h"), facts)

    assert long.value is not None
    assert len(long.value) <= 100
    assert cert.to_dict() == {
        "condition": "[CERTIFICATE_EXPIRATION] > 48h",
        "success": True,
        "value": "50h",
    }
    assert cert.shown == "[CERTIFICATE_EXPIRATION] (50h) > 48h"


@pytest.mark.parametrize(
    ("condition", "position", "words"),
    [
        ("[STATUS] = 200", 9, "expected an operator"),
        ("[STATUS]==200", 8, "expected an operator"),
        ("[STAUS] == 200", 0, "unknown placeholder [STAUS]"),
        ("[BODY].a == 1 == 1", 14, "a second =="),
        ("[STATUS] ==  ", 12, "expected a value"),
        ("[STATUS]x == 1", 8, "unexpected text after [STATUS]"),
        ("[BODY]. == 1", 7, "expected a key"),
        ("[BODY].data[x] == 1", 11, "expected an index"),
        ("[HEADERS] == 1", 9, "expected a header name"),
        ("len(200) == 3", 4, "len() takes a placeholder"),
        ("[STATUS] == any(200, 201", 24, "not closed"),
        ("[STATUS] < pat(2*)", 11, "works only with == and !="),
        ("[BODY] == pat([a-)", 17, "character class"),
        ("[BODY] == pat(abc\\)", 17, "cannot end with"),
        ("[CONTEXT].user == 1", 0, "suites"),
    ],
)
def test_a_bad_condition_is_refused_at_its_position(condition, position, words):
    with pytest.raises(ConditionError) as caught:
        parse(condition)

    assert caught.value.position == position, caught.value
    assert words in caught.value.message
    assert str(caught.value).startswith(f"at position {position}: ")


def test_placeholders_a_kind_does_not_have_are_refused():
    with pytest.raises(ConditionError) as caught:
        parse("  [STATUS] == 200", frozenset({"CONNECTED", "RESPONSE_TIME"}))

    assert caught.value.position == 2
    assert "not available" in caught.value.message
