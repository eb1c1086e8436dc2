"""The egress policy: every refused form, the allowlist, and connecting to a judged address."""

from __future__ import annotations

import ipaddress
import os
import socket

import pytest

from portal.egress import (
    EgressForbidden,
    EgressPolicy,
    EgressResolveError,
    ResolvedAddress,
    get_policy,
)

pytestmark = pytest.mark.nodb

DEFAULT = EgressPolicy()
LOOPBACK = EgressPolicy(["127.0.0.0/8", "::1/128"])

# (address or spelling getaddrinfo accepts, words the refusal reason must contain)
REFUSED = [
    ("127.0.0.1", "loopback"),
    ("2130706433", "loopback"),  # decimal
    ("0x7f000001", "loopback"),  # hex
    ("0177.0.0.1", "loopback"),  # octal
    ("127.1", "loopback"),  # short
    ("::1", "loopback"),
    ("[::1]", "loopback"),
    ("0.0.0.0", "unspecified"),
    ("0", "unspecified"),
    ("::", "unspecified"),
    ("0.1.2.3", "this network"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("fe80::1%lo", "link-local"),
    ("100.64.0.1", "CGNAT"),
    ("100.127.255.254", "CGNAT"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("192.0.0.8", "IETF protocol assignment"),
    ("192.0.2.1", "documentation"),
    ("198.51.100.1", "documentation"),
    ("203.0.113.1", "documentation"),
    ("2001:db8::1", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("198.19.255.1", "benchmarking"),
    ("2001:2::1", "benchmarking"),
    ("fec0::1", "site-local"),
    ("100::1", "discard-only"),
    ("4000::1", "reserved"),
    ("169.254.169.254", "cloud metadata"),
    ("169.254.170.2", "cloud metadata"),
    ("169.254.170.23", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"),
    ("2852039166", "cloud metadata"),  # 169.254.169.254 in decimal
    ("::ffff:127.0.0.1", "loopback: IPv4 127.0.0.1 inside IPv4-mapped"),
    ("::ffff:7f00:1", "loopback: IPv4 127.0.0.1 inside IPv4-mapped"),
    ("::ffff:169.254.169.254", "cloud metadata: IPv4 169.254.169.254 inside IPv4-mapped"),
    ("::ffff:10.0.0.1", "private"),
    ("::127.0.0.1", "loopback: IPv4 127.0.0.1 inside IPv4-compatible"),
    ("::8.8.8.8", "IPv4-compatible"),
    ("2002:7f00:1::1", "loopback: IPv4 127.0.0.1 inside 6to4"),
    ("2002:a9fe:a9fe::", "cloud metadata: IPv4 169.254.169.254 inside 6to4"),
    ("2001:0:808:808::80ff:fffe", "loopback: IPv4 127.0.0.1 inside Teredo client"),
    ("2001:0:a00:1::f7f7:f7f7", "private: IPv4 10.0.0.1 inside Teredo server"),
    ("64:ff9b::127.0.0.1", "loopback: IPv4 127.0.0.1 inside NAT64"),
    ("64:ff9b::a9fe:a9fe", "cloud metadata: IPv4 169.254.169.254 inside NAT64"),
    ("64:ff9b:1::a00:1", "private: IPv4 10.0.0.1 inside NAT64"),
    ("64:ff9b:1::808:808", "local-use NAT64"),
    ("2001:10::1", "IETF protocol assignment"),
]

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "192.0.1.1",
    "100.128.0.1",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
    "2001:0:808:404::f7f7:f7f7",  # Teredo: server 8.8.4.4, client 8.8.8.8
]


@pytest.mark.parametrize(("spelling", "reason"), REFUSED)
def test_refuses_every_form_through_resolve(spelling: str, reason: str) -> None:
    with pytest.raises(EgressForbidden) as caught:
        DEFAULT.resolve(spelling, 80)
    assert reason in caught.value.reason
    assert caught.value.host == spelling
    assert caught.value.code == "target_forbidden"


def is_literal(spelling: str) -> bool:
    try:
        ipaddress.ip_address(spelling.partition("%")[0])
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(("literal", "reason"), [r for r in REFUSED if is_literal(r[0])])
def test_refuses_literal_addresses(literal: str, reason: str) -> None:
    with pytest.raises(EgressForbidden) as caught:
        DEFAULT.check_address(literal)
    assert reason in caught.value.reason
    assert caught.value.address == literal


@pytest.mark.parametrize("address", ALLOWED)
def test_allows_globally_routable_addresses(address: str) -> None:
    assert DEFAULT.check_address(address) == ipaddress.ip_address(address)
    [resolved] = DEFAULT.resolve(address, 443)
    assert resolved.port == 443
    assert resolved.ip_version == (6 if ":" in address else 4)


def test_judges_the_address_a_numeric_spelling_resolves_to() -> None:
    assert DEFAULT.resolve("134744072", 80) == [ResolvedAddress(socket.AF_INET, "8.8.8.8", 80)]


def test_names_host_address_and_reason_in_the_message() -> None:
    with pytest.raises(EgressForbidden) as caught:
        DEFAULT.resolve("0x7f000001", 80)
    message = str(caught.value)
    assert "0x7f000001" in message
    assert "127.0.0.1" in message
    assert "loopback" in message
    assert caught.value.address == "127.0.0.1"


def test_refuses_localhost_by_name() -> None:
    with pytest.raises(EgressForbidden, match="loopback"):
        DEFAULT.resolve("localhost", 80)


def test_raises_a_resolve_error_for_a_name_that_does_not_resolve() -> None:
    with pytest.raises(EgressResolveError) as caught:
        DEFAULT.resolve("nonexistent.invalid", 80)
    assert isinstance(caught.value, OSError)
    assert caught.value.host == "nonexistent.invalid"


def test_raises_a_resolve_error_for_a_malformed_name() -> None:
    with pytest.raises(EgressResolveError):
        DEFAULT.resolve("a" * 70 + ".example", 80)


def test_refuses_non_numeric_input_to_check_address() -> None:
    with pytest.raises(ValueError, match="does not appear to be"):
        DEFAULT.check_address("localhost")


def test_opens_allowed_networks() -> None:
    assert str(LOOPBACK.check_address("127.0.0.1")) == "127.0.0.1"
    assert str(LOOPBACK.check_address("::1")) == "::1"
    assert LOOPBACK.resolve("2130706433", 80)[0].address == "127.0.0.1"
    assert LOOPBACK.check_address("::ffff:127.0.0.1")
    with pytest.raises(EgressForbidden, match="private"):
        LOOPBACK.check_address("10.0.0.1")


def test_keeps_metadata_closed_unless_listed_exactly() -> None:
    wide = EgressPolicy(["169.254.0.0/16", "fc00::/7", "::ffff:0:0/96", "0.0.0.0/0", "::/0"])
    assert wide.check_address("169.254.1.1")
    assert wide.check_address("fd00::1")
    for address in ("169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254", "169.254.170.2"):
        with pytest.raises(EgressForbidden, match="cloud metadata"):
            wide.check_address(address)
    exact = EgressPolicy(["169.254.169.254/32", "fd00:ec2::254/128"])
    assert exact.check_address("169.254.169.254")
    assert exact.check_address("fd00:ec2::254")
    with pytest.raises(EgressForbidden, match="cloud metadata"):
        exact.check_address("169.254.170.2")


def test_judges_the_embedded_ipv4_even_when_the_carrier_is_allowed() -> None:
    policy = EgressPolicy(["64:ff9b:1::/48"])
    assert policy.check_address("64:ff9b:1::808:808")
    with pytest.raises(EgressForbidden, match="private"):
        policy.check_address("64:ff9b:1::a00:1")


def test_parses_allowed_networks_from_a_comma_string() -> None:
    policy = EgressPolicy(" 127.0.0.0/8, ::1/128 ,")
    assert [str(n) for n in policy.allowed_networks] == ["127.0.0.0/8", "::1/128"]


def test_rejects_a_malformed_allowed_network() -> None:
    with pytest.raises(ValueError, match="not-a-network"):
        EgressPolicy(["not-a-network"])


def test_builds_the_policy_from_settings() -> None:
    from django.conf import settings
    from django.test import override_settings

    if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        settings.configure()  # this file run on its own, outside the portal's pytest config
    with override_settings(EGRESS_ALLOWED_NETWORKS=["127.0.0.0/8"]):
        assert get_policy().check_address("127.0.0.1")
    with override_settings(EGRESS_ALLOWED_NETWORKS=[]), pytest.raises(EgressForbidden):
        get_policy().check_address("127.0.0.1")


def assert_nothing_accepted(server: socket.socket) -> None:
    server.setblocking(False)
    with pytest.raises(BlockingIOError):
        server.accept()


def test_connects_to_an_allowed_listener(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    sock, address = LOOPBACK.connect("127.0.0.1", port, timeout=2)
    with sock:
        listener.settimeout(2)
        peer, _ = listener.accept()
        peer.close()
        assert address == ResolvedAddress(socket.AF_INET, "127.0.0.1", port)
        assert sock.getpeername() == ("127.0.0.1", port)


def test_refuses_to_connect_to_loopback_by_default(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    with pytest.raises(EgressForbidden, match="loopback"):
        DEFAULT.connect("localhost", port, timeout=2)
    assert_nothing_accepted(listener)


def test_rechecks_addresses_resolved_elsewhere(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    smuggled = [ResolvedAddress(socket.AF_INET, "127.0.0.1", port)]
    with pytest.raises(EgressForbidden):
        DEFAULT.connect("example.com", port, timeout=2, resolved=smuggled)
    assert_nothing_accepted(listener)


def test_tries_the_next_address_when_one_refuses(listener: socket.socket) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound but not listening: connecting is refused
    open_port = listener.getsockname()[1]
    candidates = [
        ResolvedAddress(socket.AF_INET, "127.0.0.1", closed.getsockname()[1]),
        ResolvedAddress(socket.AF_INET, "127.0.0.1", open_port),
    ]
    sock, address = LOOPBACK.connect("x", open_port, timeout=2, resolved=candidates)
    sock.close()
    closed.close()
    assert address.port == open_port
    with pytest.raises(ConnectionRefusedError):
        LOOPBACK.connect("x", 1, timeout=2, resolved=candidates[:1])
