"""The hub's vantage registry and `locations` on probes and batches, without vantage processes
(those are in test_vantages_loopback.py): validation, roles, shapes, the schema."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from modules.netprobe.models import ProbeResult, Vantage
from modules.netprobe.vantages.fanout import resolve_locations

from .background import Background
from .servers import TcpListener
from .vantages import new_secret

pytestmark = pytest.mark.usefixtures("np_settings")

VANTAGES = "/api/netprobe/vantages/"
PROBES = "/api/netprobe/probes/"
BATCHES = "/api/netprobe/batches/"


def register(api, **fields):
    payload = {"name": "eu", "region": "eu-west-1", "url": "http://127.0.0.2:8001"}
    return api.post(VANTAGES, {**payload, "secret": new_secret(), **fields}, format="json")


def test_an_operator_registers_a_vantage_whose_secret_is_never_answered(operator_api, viewer_api):
    response = register(operator_api)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert "secret" not in body
    assert (body["name"], body["region"], body["enabled"]) == ("eu", "eu-west-1", True)
    assert (body["last_check_at"], body["last_check_ok"]) == (None, None)
    listed = viewer_api.get(VANTAGES).json()
    assert [v["name"] for v in listed["results"]] == ["eu"]
    assert "secret" not in listed["results"][0]


def test_a_viewer_may_not_register_change_or_check_a_vantage(operator_api, viewer_api):
    pk = register(operator_api).json()["id"]

    assert register(viewer_api, name="us").status_code == 403
    assert viewer_api.patch(f"{VANTAGES}{pk}/", {"enabled": False}).status_code == 403
    assert viewer_api.post(f"{VANTAGES}{pk}/check/").status_code == 403


def test_a_secret_shorter_than_32_bytes_is_refused(operator_api):
    response = register(operator_api, secret="s" * 31)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "32 bytes" in error["details"]["fields"]["secret"][0]
    assert not Vantage.objects.exists()


def test_a_vantage_needs_a_secret_and_a_free_name_that_is_not_reserved(operator_api):
    assert register(operator_api, secret="").status_code == 400
    assert register(operator_api).status_code == 201
    for name in ("eu", "all", "local"):
        response = register(operator_api, name=name)
        assert response.status_code == 400, name
        assert "name" in response.json()["error"]["details"]["fields"]


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/", "http://[::ffff:169.254.169.254]/", "http://localhost:8000/"]
)
def test_a_vantage_url_the_hubs_egress_policy_refuses_is_target_forbidden(
    operator_api, settings, url
):
    settings.EGRESS_ALLOWED_NETWORKS = []  # as in production: only public addresses
    response = register(operator_api, url=url)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "target_forbidden", response.json()
    assert not Vantage.objects.exists()


def test_changing_a_vantage_keeps_its_secret_unless_a_new_one_is_given(operator_api):
    pk = register(operator_api).json()["id"]
    secret = Vantage.objects.get(pk=pk).secret

    response = operator_api.patch(f"{VANTAGES}{pk}/", {"enabled": False}, format="json")
    assert (response.status_code, response.json()["enabled"]) == (200, False)
    assert Vantage.objects.get(pk=pk).secret == secret
    assert operator_api.patch(f"{VANTAGES}{pk}/", {"secret": "short"}).status_code == 400
    fresh = new_secret()
    assert operator_api.patch(f"{VANTAGES}{pk}/", {"secret": fresh}).status_code == 200
    assert Vantage.objects.get(pk=pk).secret == fresh


def test_checking_a_vantage_that_does_not_answer_stores_why(operator_api):
    with TcpListener() as listener:  # accepts and hangs up: not a vantage
        pk = register(operator_api, url=f"http://{listener.target}").json()["id"]
        response = operator_api.post(f"{VANTAGES}{pk}/check/")

    assert response.status_code == 200
    body = response.json()
    assert (body["last_check_ok"], body["last_check_latency_ms"]) == (False, None)
    assert body["last_check_at"] is not None
    assert body["last_check_error"]
    assert "\n" not in body["last_check_error"]


def test_an_unknown_or_disabled_location_is_a_validation_error_naming_it(operator_api):
    Vantage.objects.create(name="off", url="http://127.0.0.2:1", secret="s" * 40, enabled=False)

    for locations in (["mars"], ["local", "off"]):
        response = operator_api.post(
            PROBES, {"kind": "tcp", "target": "127.0.0.1:9", "locations": locations}, format="json"
        )
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert locations[-1] in error["details"]["fields"]["locations"][0]
    response = operator_api.post(
        BATCHES,
        {"items": [{"kind": "tcp", "target": "127.0.0.1:9"}], "locations": ["mars"]},
        format="json",
    )
    assert response.status_code == 400
    assert "mars" in response.json()["error"]["details"]["fields"]["locations"][0]
    response = operator_api.post(
        PROBES, {"kind": "tcp", "target": "127.0.0.1:9", "locations": "local"}, format="json"
    )
    assert "locations" in response.json()["error"]["details"]["fields"]
    assert not ProbeResult.objects.exists()


def test_a_probe_without_locations_or_at_local_answers_as_it_always_did(operator_api):
    with TcpListener() as listener:
        plain = operator_api.post(PROBES, {"kind": "tcp", "target": listener.target, "count": 1})
        local = operator_api.post(
            PROBES,
            {"kind": "tcp", "target": listener.target, "count": 1, "locations": ["local"]},
            format="json",
        )

    assert plain.status_code == local.status_code == 201
    assert set(plain.json()) == set(local.json())
    # One row, not a measurement: no `results`; where it ran, and no measurement id.
    assert "results" not in local.json()
    assert (local.json()["location"], local.json()["measurement"]) == ("local", None)
    row = ProbeResult.objects.get(pk=local.json()["id"])
    assert (row.location, row.measurement) == ("local", None)


def test_a_probe_at_all_with_no_vantages_is_a_measurement_of_the_hub_alone(operator_api):
    with TcpListener() as listener:
        response = operator_api.post(
            PROBES,
            {"kind": "tcp", "target": listener.target, "count": 1, "locations": ["all"]},
            format="json",
        )
    # The shape follows the request: a client asking for ["all"] reads `results` whether or
    # not a vantage is registered today.
    assert response.status_code == 201
    entries = response.json()["results"]
    assert [(e["location"], e["status"], e["result"]["status"]) for e in entries] == [
        ("local", "ok", "ok")
    ]


def test_the_schema_documents_vantages_and_measurements(operator_api):
    schema = operator_api.get("/api/schema/?format=json").json()

    paths = schema["paths"]
    assert {"get", "post"} <= set(paths[VANTAGES])
    assert "400" in paths[VANTAGES]["post"]["responses"]
    assert "/api/netprobe/vantages/{id}/check/" in paths
    answer = paths[PROBES]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert answer["$ref"].endswith("ProbeAnswer")
    components = schema["components"]["schemas"]
    variants = {ref["$ref"].rsplit("/", 1)[-1] for ref in components["ProbeAnswer"]["oneOf"]}
    assert variants == {"ProbeResult", "Measurement"}
    entry = components["LocationEntry"]["properties"]
    ref = entry["status"]["allOf"][0]["$ref"]
    enum = components[ref.rsplit("/", 1)[-1]]["enum"]
    assert set(enum) == {"ok", "vantage_unavailable"}
    secret = components["VantageRequest"]["properties"]["secret"]
    assert secret.get("writeOnly") or "secret" not in components["Vantage"]["properties"]


def test_locations_resolve_all_to_the_hub_and_every_enabled_vantage(db):
    for name, enabled in (("b", True), ("a", True), ("off", False)):
        Vantage.objects.create(
            name=name, url="http://127.0.0.2:1", secret="s" * 40, enabled=enabled
        )

    assert resolve_locations(None) == resolve_locations([]) == ["local"]
    assert resolve_locations(["all"]) == ["local", "a", "b"]
    assert resolve_locations(["b", "local", "b"]) == ["b", "local"]


def test_a_vantage_url_that_answers_no_json_is_that_locations_reason(operator_api, http_server):
    register(operator_api, name="web", url=http_server.url)  # a web server, not a vantage
    with TcpListener() as listener:
        response = operator_api.post(
            PROBES,
            {"kind": "tcp", "target": listener.target, "count": 1, "locations": ["local", "web"]},
            format="json",
        )

    assert response.status_code == 201
    local, web = response.json()["results"]
    assert (local["location"], local["status"], local["result"]["status"]) == ("local", "ok", "ok")
    assert (web["location"], web["status"], web["result"]) == ("web", "vantage_unavailable", None)
    assert web["reason"] == "HTTP 501 Unsupported method ('POST'): the answer is not JSON"
    rows = ProbeResult.objects.filter(measurement=response.json()["measurement"])
    assert list(rows.values_list("location", flat=True)) == ["local"]


@pytest.fixture
def root_client(client, db):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def test_the_admin_registers_checks_and_lists_a_vantage_with_its_last_check(root_client, settings):
    short = root_client.post(
        "/admin/netprobe/vantage/add/",
        {"name": "eu", "url": "http://127.0.0.2:1", "secret": "short", "enabled": "on"},
    )
    assert short.status_code == 200
    assert "32 bytes" in short.content.decode()
    settings.EGRESS_ALLOWED_NETWORKS = []
    metadata = root_client.post(
        "/admin/netprobe/vantage/add/",
        {"name": "eu", "url": "http://169.254.169.254/", "secret": new_secret(), "enabled": "on"},
    )
    assert "cloud metadata" in metadata.content.decode()
    assert not Vantage.objects.exists()
    settings.EGRESS_ALLOWED_NETWORKS = ["127.0.0.0/8"]

    with TcpListener() as listener:
        added = root_client.post(
            "/admin/netprobe/vantage/add/",
            {
                "name": "eu",
                "url": f"http://{listener.target}",
                "secret": new_secret(),
                "enabled": "on",
            },
        )
        assert added.status_code == 302, added.content.decode()[:2000]
        vantage = Vantage.objects.get()
        checked = root_client.post(
            "/admin/netprobe/vantage/",
            {"action": "check_now", "_selected_action": [vantage.pk]},
            follow=True,
        )

    page = checked.content.decode()
    vantage.refresh_from_db()
    assert vantage.last_check_ok is False
    assert vantage.last_check_at is not None
    text = page.replace("&#x27;", "'").lower()
    assert f"eu: {vantage.last_check_error}".lower() in text  # the action's message
    assert "last check latency ms" in text  # the list's column


class Impostor(Background, ThreadingHTTPServer):
    """Answers every vantage request with a well-formed result, unsigned: what a proxy or a
    machine in the middle could send. The hub must not take it as a measurement."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ImpostorHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class ImpostorHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        forged = {
            "kind": request["kind"],
            "target": request["target"],
            "status": "ok",
            "error": None,
            "started_at": "2026-12-07T09:00:00+00:00",
            "duration_ms": 1.0,
            "resolved": {"addresses": [], "used": None},
            "ip_version": None,
            "result": {},
        }
        body = json.dumps({"request_id": request["request_id"], "result": forged}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_an_unsigned_answer_is_not_taken_for_a_result(operator_api):
    with Impostor() as impostor, TcpListener() as listener:
        register(operator_api, name="mitm", url=impostor.url)
        response = operator_api.post(
            PROBES,
            {"kind": "tcp", "target": listener.target, "count": 1, "locations": ["mitm"]},
            format="json",
        )

    (entry,) = response.json()["results"]
    assert (entry["status"], entry["result"]) == ("vantage_unavailable", None)
    assert entry["reason"] == "refused the answer: the answer is not signed"
    assert not ProbeResult.objects.exists()
