"""The hub-to-vantage signature and the engine-result codec: Django-free, no network."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from modules.netprobe.probes import ProbeError, ProbeResult, Resolution
from modules.netprobe.vantages.codec import CodecError, result_from_dict
from modules.netprobe.vantages.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureInvalid,
    check_secret,
    reply_headers,
    signature,
    signed_headers,
    verify,
    verify_reply,
)

pytestmark = pytest.mark.nodb

SECRET = "s" * 40
OLD_SECRET = "o" * 40
NOW = 1_800_000_000
BODY = b'{"request_id":"abc","kind":"tcp","target":"example.com:443","options":{}}'
PATH = "/vantage/v1/probe"


class Store:
    """The replay store's contract: add() answers whether the key was new."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(self, sig: str) -> bool:
        if sig in self.seen:
            return False
        self.seen.add(sig)
        return True


def check(headers: dict[str, str], *, store: Store | None = None, now: float = NOW, **kw) -> None:
    args = {"method": "POST", "path": PATH, "body": BODY, **kw}
    verify(
        [SECRET],
        timestamp=headers.get(TIMESTAMP_HEADER),
        signature_header=headers.get(SIGNATURE_HEADER),
        first_seen=store if store is not None else Store(),
        now=now,
        **args,
    )


def test_it_signs_method_path_timestamp_and_body_joined_by_newlines():
    signed = b'POST\n/vantage/v1/probe\n1800000000\n{"request_id":"abc","kind":"tcp",' + (
        b'"target":"example.com:443","options":{}}'
    )
    expected = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    headers = signed_headers(SECRET, method="post", path=PATH, body=BODY, now=NOW)
    assert headers == {TIMESTAMP_HEADER: "1800000000", SIGNATURE_HEADER: f"v1={expected}"}


def test_it_accepts_a_genuine_request_within_the_allowed_skew():
    check(signed_headers(SECRET, method="POST", path=PATH, body=BODY, now=NOW))
    check(signed_headers(SECRET, method="POST", path=PATH, body=BODY, now=NOW - 59))
    check(signed_headers(SECRET, method="POST", path=PATH, body=BODY, now=NOW + 59))


@pytest.mark.parametrize("offset", [-120, -61, 61, 120])
def test_it_refuses_a_timestamp_more_than_60_s_off(offset):
    headers = signed_headers(SECRET, method="POST", path=PATH, body=BODY, now=NOW + offset)
    with pytest.raises(SignatureInvalid, match="off this vantage's clock") as caught:
        check(headers)
    assert (caught.value.code, caught.value.status) == ("signature_invalid", 401)


@pytest.mark.parametrize(
    "change",
    [
        {"body": BODY.replace(b"example.com", b"example.org")},
        {"path": "/vantage/v1/health"},
        {"method": "PUT"},
    ],
)
def test_it_refuses_a_request_changed_after_signing(change):
    headers = signed_headers(SECRET, method="POST", path=PATH, body=BODY, now=NOW)
    with pytest.raises(SignatureInvalid, match="does not match"):
        check(headers, **change)


def test_it_refuses_a_missing_signature_or_one_made_with_another_secret():
    with pytest.raises(SignatureInvalid, match="required"):
        check({})
    with pytest.raises(SignatureInvalid, match="Unix seconds"):
        check({TIMESTAMP_HEADER: "yesterday", SIGNATURE_HEADER: "v1=00"})
    other = signed_headers("w" * 40, method="POST", path=PATH, body=BODY, now=NOW)
    with pytest.raises(SignatureInvalid, match="does not match"):
        check(other)


def test_it_refuses_the_same_request_twice_and_remembers_only_genuine_ones():
    store = Store()
    headers = signed_headers(SECRET, method="POST", path=PATH, body=BODY, now=NOW)
    check(headers, store=store)
    with pytest.raises(SignatureInvalid, match="replay"):
        check(headers, store=store)
    forged = {TIMESTAMP_HEADER: str(NOW), SIGNATURE_HEADER: "v1=" + "0" * 64}
    with pytest.raises(SignatureInvalid):
        check(forged, store=store)
    assert store.seen == {headers[SIGNATURE_HEADER]}


def test_it_accepts_the_previous_secret_during_a_rotation():
    headers = signed_headers(OLD_SECRET, method="POST", path=PATH, body=BODY, now=NOW)
    verify(
        [SECRET, OLD_SECRET],
        method="POST",
        path=PATH,
        timestamp=headers[TIMESTAMP_HEADER],
        signature_header=headers[SIGNATURE_HEADER],
        body=BODY,
        first_seen=Store(),
        now=NOW,
    )


def test_it_signs_the_query_string_of_a_health_check_as_part_of_the_path():
    first = signature(
        SECRET, method="GET", path="/vantage/v1/health?request_id=a", timestamp=NOW, body=b""
    )
    second = signature(
        SECRET, method="GET", path="/vantage/v1/health?request_id=b", timestamp=NOW, body=b""
    )
    assert first != second  # two checks in the same second are not a replay of each other


def test_a_secret_must_be_at_least_32_bytes():
    with pytest.raises(ValueError, match="at least 32 bytes"):
        check_secret("x" * 31)
    check_secret("x" * 32)
    check_secret("é" * 16)  # 32 bytes in UTF-8


def engine_result(**changes) -> ProbeResult:
    fields = {
        "kind": "http",
        "target": "https://example.com/",
        "status": "ok",
        "error": None,
        "started_at": datetime(2026, 12, 7, 9, 30, 1, 123456, tzinfo=UTC),
        "duration_ms": 123.456,
        "resolved": Resolution(("93.184.216.34", "2606:2800:220:1::"), "93.184.216.34"),
        "ip_version": 4,
        "result": {"status_code": 200, "timings": {"total_ms": 120.5}, "headers": {"a": "b"}},
    }
    return ProbeResult(**{**fields, **changes})


@pytest.mark.parametrize(
    "result",
    [
        engine_result(),
        engine_result(
            status="timeout",
            error=ProbeError("timeout", "timed out during headers"),
            ip_version=None,
            resolved=Resolution(),
            result={},
            duration_ms=0.0,
        ),
        engine_result(kind="tcp", status="failed", error=ProbeError("connect", "refused")),
    ],
)
def test_the_codec_rebuilds_an_engine_result_exactly(result):
    rebuilt = result_from_dict(result.to_dict())
    assert rebuilt == result
    assert rebuilt.response_ms == result.response_ms


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "smtp"},
        {"status": "maybe"},
        {"started_at": "2026-12-07T09:30:01"},  # no time zone
        {"duration_ms": "fast"},
        {"error": {"code": "teapot", "message": "x"}},
        {"error": None, "status": "failed"},
        {"resolved": {"addresses": "1.2.3.4", "used": None}},
        {"result": []},
    ],
)
def test_the_codec_refuses_an_answer_that_is_not_an_engine_result(change):
    data = {**engine_result().to_dict(), **change}
    with pytest.raises(CodecError):
        result_from_dict(data)
    with pytest.raises(CodecError):
        result_from_dict([data])


def test_an_answer_is_signed_for_the_one_request_it_answers():
    request_sig = signed_headers(SECRET, method="POST", path=PATH, body=BODY, now=NOW)[
        SIGNATURE_HEADER
    ]
    answer = b'{"request_id":"abc","result":{}}'
    headers = reply_headers(SECRET, request_signature=request_sig, body=answer, now=NOW)

    def check_reply(*, request_signature=request_sig, body=answer, secret=SECRET, **given):
        verify_reply(
            secret,
            request_signature=request_signature,
            timestamp=given.get("timestamp", headers[TIMESTAMP_HEADER]),
            signature_header=given.get("signature", headers[SIGNATURE_HEADER]),
            body=body,
        )

    check_reply()
    with pytest.raises(SignatureInvalid, match="does not match"):
        check_reply(body=answer.replace(b"abc", b"abd"))  # changed on the way
    with pytest.raises(SignatureInvalid, match="does not match"):
        check_reply(request_signature="v1=" + "1" * 64)  # an answer to another request
    with pytest.raises(SignatureInvalid, match="does not match"):
        check_reply(secret="w" * 40)
    with pytest.raises(SignatureInvalid, match="not signed"):
        check_reply(signature="")
