"""What one operator does, for bench/load.py: dashboard pages, API reads, probes to a loopback
target, SOS raises to loopback webhooks and small face compares. Configured by bench/load.py
through the environment (LOAD_TOKEN, LOAD_PROBE_TARGET, LOAD_FACE_A, LOAD_FACE_B)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from locust import HttpUser, between, task

TOKEN = os.environ.get("LOAD_TOKEN", "")
PROBE_TARGET = os.environ.get("LOAD_PROBE_TARGET", "")
FACE_A = Path(os.environ.get("LOAD_FACE_A", "a.jpg"))
FACE_B = Path(os.environ.get("LOAD_FACE_B", "b.jpg"))
USERNAME = os.environ.get("LOAD_USERNAME", "olivia")
PASSWORD = os.environ.get("LOAD_PASSWORD", "")


class Operator(HttpUser):
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        page = self.client.get("/accounts/login/", name="login page")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        self.client.post(
            "/accounts/login/",
            {
                "username": USERNAME,
                "password": PASSWORD,
                "csrfmiddlewaretoken": token.group(1) if token else "",
            },
            name="login",
        )
        self.api = {"Authorization": f"Token {TOKEN}"}
        self.faces = (FACE_A.read_bytes(), FACE_B.read_bytes())

    def page(self, path: str, name: str) -> None:
        with self.client.get(path, name=name, catch_response=True) as response:
            if "/accounts/login/" in response.url:
                response.failure("sent to the login page: the session did not hold")

    @task(3)
    def dashboard(self) -> None:
        self.page("/", "page: dashboard")

    @task(2)
    def netprobe_page(self) -> None:
        self.page("/netprobe/", "page: netprobe")

    @task(4)
    def probe_list(self) -> None:
        self.client.get("/api/netprobe/probes/?page_size=20", headers=self.api, name="api: probes")

    @task(2)
    def alert_list(self) -> None:
        self.client.get("/api/sos/alerts/", headers=self.api, name="api: alerts")

    @task(2)
    def probe(self) -> None:
        self.client.post(
            "/api/netprobe/probes/",
            json={"kind": "http", "target": PROBE_TARGET},
            headers=self.api,
            name="api: run probe",
        )

    @task(1)
    def raise_alert(self) -> None:
        self.client.post(
            "/api/sos/alerts/",
            json={"message": "Load test", "severity": "info", "groups": ["load"]},
            headers=self.api,
            name="api: raise alert",
        )

    @task(1)
    def compare(self) -> None:
        a, b = self.faces
        self.client.post(
            "/api/faces/compare/",
            files={"image_a": ("a.jpg", a, "image/jpeg"), "image_b": ("b.jpg", b, "image/jpeg")},
            headers=self.api,
            name="api: compare faces",
        )
