from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import hashes

from modules.netprobe.probes import ProbeOptionsError, run_probe, starttls
from modules.netprobe.probes.tls import check_target
from portal.egress import EgressForbidden, EgressPolicy
from portal.egress.deadline import Deadline

from .servers import LoopbackHTTPServer, StartTlsServer, TestPKI


def probe(server_target: str, policy, pki: TestPKI, **options):
    return run_probe("tls", server_target, options, policy=policy, ca_file=str(pki.ca_file))


def target_of(server: LoopbackHTTPServer) -> str:
    return f"127.0.0.1:{server.port}"


def test_reads_the_session_and_the_leaf_certificate(https_server, pki, policy):
    result = probe(target_of(https_server), policy, pki)

    assert result.status == "ok"
    assert result.error is None
    assert result.result["verified"] is True
    assert result.result["verify_error"] is None
    assert result.result["protocol"] in ("TLSv1.2", "TLSv1.3")
    assert result.result["cipher"]
    assert result.result["cipher_bits"] >= 128
    assert result.result["alpn"] == "http/1.1"
    assert result.result["timings"]["handshake_ms"] > 0
    leaf, cert = result.result["certificate"], pki.valid.cert
    assert leaf["subject_cn"] == "localhost"
    assert leaf["sans"] == ["localhost", "127.0.0.1", "::1"]
    assert leaf["issuer_cn"] == "NetProbe Test Intermediate CA"
    assert leaf["serial"] == f"{cert.serial_number:X}"
    assert leaf["not_before"] == cert.not_valid_before_utc.isoformat()
    assert leaf["not_after"] == cert.not_valid_after_utc.isoformat()
    assert leaf["days_left"] in (89, 90)
    assert (leaf["key_type"], leaf["key_size"]) == ("RSA", 2048)
    fingerprint = cert.fingerprint(hashes.SHA256()).hex().upper()
    assert leaf["sha256_fingerprint"].replace(":", "") == fingerprint
    assert leaf["expired"] is False
    assert leaf["self_signed"] is False
    assert leaf["is_ca"] is False
    assert result.resolved.used == "127.0.0.1"
    assert result.ip_version == 4
    json.dumps(result.to_dict())


def test_returns_the_whole_chain_as_presented(https_server, pki, policy):
    result = probe(target_of(https_server), policy, pki)

    chain = result.result["chain"]
    assert result.result["chain_source"] == "presented"
    assert [c["subject_cn"] for c in chain] == ["localhost", "NetProbe Test Intermediate CA"]
    assert chain[1]["is_ca"] is True
    assert (chain[1]["key_type"], chain[1]["key_curve"]) == ("EC", "secp256r1")
    assert len(result.result["verified_path"]) == 3  # leaf, intermediate, root from ca_file


def test_reports_an_expired_certificate(https_expired, pki, policy):
    result = probe(target_of(https_expired), policy, pki)

    assert result.status == "failed"
    assert result.error.code == "tls"
    assert result.result["verified"] is False
    assert "expired" in result.result["verify_error"]
    leaf = result.result["certificate"]
    assert leaf["expired"] is True
    assert leaf["days_left"] < 0
    assert len(result.result["chain"]) == 2


def test_reports_a_self_signed_certificate(https_self_signed, pki, policy):
    result = probe(target_of(https_self_signed), policy, pki)

    assert result.status == "failed"
    assert result.error.code == "tls"
    assert result.result["verified"] is False
    assert "self-signed" in result.result["verify_error"]
    assert result.result["certificate"]["self_signed"] is True
    assert result.result["certificate"]["key_type"] == "EC"


def test_reports_without_failing_when_verification_is_not_required(https_self_signed, pki, policy):
    result = probe(target_of(https_self_signed), policy, pki, verify_tls=False)

    assert result.status == "ok"
    assert result.result["verified"] is False
    assert result.result["verify_error"]


def test_reports_a_hostname_mismatch(https_server, pki, policy):
    result = probe(target_of(https_server), policy, pki, servername="other.example")

    assert result.result["verified"] is False
    assert "mismatch" in result.result["verify_error"].lower()


def test_does_not_verify_against_the_system_store_by_default(https_server, policy):
    result = run_probe("tls", target_of(https_server), policy=policy)

    assert result.result["verified"] is False
    assert "unable to get local issuer" in result.result["verify_error"]


@pytest.mark.parametrize("protocol", ["smtp", "imap", "pop3"])
def test_upgrades_with_starttls(request, protocol, pki, policy):
    server = request.getfixturevalue(f"{protocol}_server")
    result = probe(server.target, policy, pki, starttls=protocol)

    assert result.status == "ok", result.error
    assert result.result["starttls"] == protocol
    assert result.result["starttls_banner"]
    assert result.result["timings"]["starttls_ms"] < 1000
    assert result.result["alpn"] is None
    assert result.result["certificate"]["subject_cn"] == "localhost"


def test_fails_when_the_server_does_not_offer_starttls(smtp_without_starttls, pki, policy):
    result = probe(smtp_without_starttls.target, policy, pki, starttls="smtp")

    assert result.status == "failed"
    assert result.error.code == "tls"
    assert "does not offer STARTTLS" in result.error.message


def test_a_trickled_starttls_greeting_cannot_stretch_the_probe(pki, policy):
    # 12 greeting lines, one every 250 ms: each read is quick, the greeting takes 3 s.
    with StartTlsServer("smtp", pki.valid.server_context(alpn=()), greeting_pause=0.25) as server:
        started = time.monotonic()
        result = probe(server.target, policy, pki, starttls="smtp", timeout=0.6)
        elapsed = time.monotonic() - started

    assert result.status == "timeout"
    assert result.error.code == "timeout"
    assert "starttls" in result.error.message
    assert elapsed < 0.6 + 0.4, f"took {elapsed:.2f} s with a 0.6 s timeout"


def test_a_reply_code_in_other_digits_is_a_starttls_error():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall("\u00b2\u00b2\u00b2 hello\r\n".encode())  # "²²²": isdigit(), not int()

        with pytest.raises(starttls.StartTlsError, match="not an SMTP response"):
            starttls.negotiate(ours, "smtp", Deadline(1.0))


def test_fails_with_tls_against_a_plain_text_server(http_server, pki, policy):
    result = probe(f"127.0.0.1:{http_server.port}", policy, pki)

    assert result.status == "failed"
    assert result.error.code == "tls"


def test_fails_with_connect_on_a_closed_port(closed_port, pki, policy):
    result = probe(closed_port.target, policy, pki)

    assert result.status == "failed"
    assert result.error.code == "connect"


def test_raises_for_a_refused_target(https_server):
    with pytest.raises(EgressForbidden):
        run_probe("tls", target_of(https_server), policy=EgressPolicy())


def test_picks_default_ports_by_protocol():
    from modules.netprobe.probes.tls import TlsOptions

    assert check_target("example.com", TlsOptions()) == ("example.com", 443)
    assert check_target("example.com", TlsOptions(starttls="smtp")) == ("example.com", 25)
    assert check_target("example.com", TlsOptions(starttls="imap")) == ("example.com", 143)
    assert check_target("[2001:db8::1]:8443", TlsOptions()) == ("2001:db8::1", 8443)


@pytest.mark.parametrize(
    ("options", "field"),
    [({"starttls": "ftp"}, "starttls"), ({"servername": "bad name"}, "servername")],
)
def test_rejects_invalid_options(options, field):
    with pytest.raises(ProbeOptionsError) as caught:
        run_probe("tls", "example.com", options, policy=EgressPolicy())
    assert field in caught.value.errors


def test_days_left_is_whole_days_from_now(https_server, pki, policy):
    result = probe(target_of(https_server), policy, pki)

    not_after = pki.valid.cert.not_valid_after_utc
    expected = (not_after - datetime.now(UTC)).days
    assert result.result["certificate"]["days_left"] == expected
