"""Reading targets and options: host names, ports and numbers from untrusted input."""

from __future__ import annotations

import time

import pytest

from modules.netprobe.probes import Limits, ProbeOptionsError, run_probe, validate
from modules.netprobe.probes.options import ascii_host
from portal.egress import EgressPolicy


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("a" * 5000, id="5000-letters"),
        pytest.param("a" * 26 + "-", id="26-letters-dash"),
        pytest.param("a" * 26 + "!", id="26-letters-bang"),
        pytest.param(("a" * 62 + ".") * 4 + "-", id="4-labels-dash"),
    ],
)
def test_a_pathological_host_name_is_refused_quickly(host):
    started = time.perf_counter()
    assert ascii_host(host) is None
    with pytest.raises(ProbeOptionsError) as caught:
        validate("tcp", f"{host}:80", {}, Limits())
    elapsed = time.perf_counter() - started

    assert set(caught.value.errors) == {"target"}
    assert elapsed < 0.2, f"took {elapsed:.2f} s"


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "example.com.",
        "a",
        "_sip._tcp.example.com",
        "xn--bcher-kva.example",
        "a-b.c-d.e",
        "9.example",
        ".".join(["a" * 63] * 3) + "." + "b" * 61,  # 253 characters
    ],
)
def test_valid_host_names_are_kept(host):
    assert ascii_host(host) == host


@pytest.mark.parametrize(
    "host",
    [
        "",
        ".",
        "-a.example",
        "a-.example",
        "a..example",
        ".example.com",
        "a" * 64 + ".example",
        ".".join(["a" * 63] * 3) + "." + "b" * 62,  # 254 characters
        "exa mple.com",
        "example.com\n",
        "example.com..",
    ],
)
def test_invalid_host_names_are_refused(host):
    assert ascii_host(host) is None


def test_an_internationalized_name_is_sent_in_idna_form():
    assert ascii_host("bücher.example") == "xn--bcher-kva.example"


@pytest.mark.parametrize("target", ["127.0.0.1:\u00b2", "127.0.0.1:\u0661", "[::1]:\u00b9"])
def test_a_port_in_other_digits_is_refused_not_a_crash(target):
    with pytest.raises(ProbeOptionsError) as caught:
        validate("tcp", target, {}, Limits())
    assert "target" in caught.value.errors


def test_a_resolver_port_in_other_digits_is_refused():
    with pytest.raises(ProbeOptionsError) as caught:
        validate("dns", "example.com", {"resolver": "127.0.0.1:\u00b2"}, Limits())
    assert "resolver" in caught.value.errors


def test_a_huge_integer_option_is_a_field_error():
    with pytest.raises(ProbeOptionsError) as caught:
        validate("tcp", "example.com:80", {"count": "9" * 5000, "port": "1" * 5000}, Limits())
    assert caught.value.errors["count"] == "must be between 1 and 16"
    assert caught.value.errors["port"] == "must be between 1 and 65535"


def test_text_options_refuse_nul_characters():
    with pytest.raises(ProbeOptionsError) as caught:
        validate(
            "http",
            "http://example.com/",
            {"keyword": "a\x00b", "expect_status": ["200\x00"]},
            Limits(),
        )
    assert caught.value.errors["keyword"] == "must not contain NUL characters"
    assert "expect_status" in caught.value.errors


@pytest.mark.parametrize(
    ("kind", "target"),
    [
        ("http", "http://example.com/a\x00b"),
        ("http", "http://example.com/\x7f"),
        ("tcp", "a\x00:80"),
    ],
)
def test_a_target_with_control_characters_is_refused(kind, target):
    with pytest.raises(ProbeOptionsError) as caught:
        validate(kind, target, {}, Limits())
    assert caught.value.errors == {"target": "must not contain control characters"}


def test_the_engine_refuses_the_pathological_target_of_every_kind():
    for kind in ("tcp", "tls", "ping", "traceroute", "dns"):
        started = time.perf_counter()
        with pytest.raises(ProbeOptionsError):
            run_probe(
                kind, "a" * 26 + "-", {"port": 80} if kind == "tcp" else {}, policy=EgressPolicy()
            )
        assert time.perf_counter() - started < 0.2, kind
