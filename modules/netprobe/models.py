"""NetProbe rows: probe results (history), monitors and their state transitions."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class Kind(models.TextChoices):
    DNS = "dns", "DNS"
    TCP = "tcp", "TCP ping"
    HTTP = "http", "HTTP(S)"
    TLS = "tls", "TLS certificate"
    PING = "ping", "ICMP ping"
    TRACEROUTE = "traceroute", "Traceroute"


LOCAL = "local"  # the hub itself, the default location of every probe


class Status(models.TextChoices):
    OK = "ok", "OK"
    FAILED = "failed", "Failed"
    TIMEOUT = "timeout", "Timeout"


class ProbeResult(models.Model):
    kind = models.CharField(max_length=16, choices=Kind.choices)
    target = models.CharField(max_length=2048)
    status = models.CharField(max_length=10, choices=Status.choices)
    error_code = models.CharField(max_length=16, blank=True)
    error_message = models.TextField(blank=True)
    started_at = models.DateTimeField()
    duration_ms = models.FloatField()
    # The figure people compare over time: http total, tcp/ping average RTT, dns query time,
    # tls connect+handshake; the whole duration for traceroute.
    response_ms = models.FloatField(null=True, blank=True)
    resolved = models.JSONField(default=dict, blank=True)
    ip_version = models.PositiveSmallIntegerField(null=True, blank=True)
    options = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    monitor = models.ForeignKey(
        "netprobe.Monitor",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="results",
    )
    # Where the probe ran: "local" (this hub) or a Vantage's name. A measurement from several
    # locations is one row per location sharing a `measurement` id.
    location = models.CharField(max_length=64, default=LOCAL)
    measurement = models.UUIDField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["-started_at", "-id"], name="netprobe_result_recent"),
            models.Index(fields=["kind", "-started_at"], name="netprobe_result_kind"),
            models.Index(fields=["status", "-started_at"], name="netprobe_result_status"),
            models.Index(fields=["target", "-started_at"], name="netprobe_result_target"),
            models.Index(fields=["monitor", "-started_at"], name="netprobe_result_monitor"),
            models.Index(
                fields=["monitor", "location", "-started_at"], name="netprobe_result_mon_loc"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.target} {self.status}"

    @property
    def ok(self) -> bool:
        return self.status == Status.OK

    @property
    def error(self) -> dict[str, str] | None:
        if not self.error_code:
            return None
        return {"code": self.error_code, "message": self.error_message}


class Monitor(models.Model):
    class State(models.TextChoices):
        UP = "up", "Up"
        DOWN = "down", "Down"
        UNKNOWN = "unknown", "Unknown"
        PAUSED = "paused", "Paused"

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    target = models.CharField(max_length=2048)
    options = models.JSONField(default=dict, blank=True)
    # The lower bound is NETPROBE_MONITOR_MIN_INTERVAL_S, checked where monitors are saved.
    interval_s = models.PositiveIntegerField(default=60)
    failure_threshold = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Consecutive failures before the monitor is down.",
    )
    recovery_threshold = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Consecutive successes before a down monitor is up again.",
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.UNKNOWN)
    consecutive_failures = models.PositiveIntegerField(default=0)
    consecutive_successes = models.PositiveIntegerField(default=0)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_result = models.ForeignKey(
        ProbeResult, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sos_group = models.ForeignKey(
        "sos.Group",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="netprobe_monitors",
        help_text="Alerted through SOS Broadcast when the monitor goes down or recovers.",
    )
    enabled = models.BooleanField(default=True)
    cert_expiry_days = models.PositiveSmallIntegerField(
        default=14,
        validators=[MaxValueValidator(3650)],
        help_text="TLS and HTTPS monitors: warn this many days before the leaf or any chain "
        "certificate expires (0: never).",
    )
    # The earliest expiry already warned about: one alert per crossing; a renewal re-arms it.
    cert_warned_expiry = models.DateTimeField(null=True, blank=True)
    # Vantage names, or ["all"]; empty means ["local"]: the hub alone, as before vantages.
    locations = models.JSONField(default=list, blank=True)
    quorum = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Failing locations in one round before the monitor is down (empty: a majority).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="netprobe_monitor_due")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(interval_s__gte=1), name="netprobe_monitor_interval_positive"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def dedup_key(self) -> str:
        return f"netprobe-monitor-{self.pk}"

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "options": dict(self.options or {})}


class MonitorTransition(models.Model):
    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.CharField(max_length=10, choices=Monitor.State.choices)
    to_state = models.CharField(max_length=10, choices=Monitor.State.choices)
    at = models.DateTimeField()
    result = models.ForeignKey(
        ProbeResult, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)
    # SOS_Broadcast's alert (an id, not a foreign key: the modules deploy and prune separately).
    alert_id = models.PositiveBigIntegerField(null=True, blank=True)
    alert_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["monitor", "-at"], name="netprobe_transition_monitor")]

    def __str__(self) -> str:
        return f"{self.monitor} {self.from_state} -> {self.to_state}"


class MonitorLocation(models.Model):
    """One location's own state and streaks for a monitor run from several locations."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="location_states")
    location = models.CharField(max_length=64)
    state = models.CharField(
        max_length=10, choices=Monitor.State.choices, default=Monitor.State.UNKNOWN
    )
    consecutive_failures = models.PositiveIntegerField(default=0)
    consecutive_successes = models.PositiveIntegerField(default=0)
    last_result = models.ForeignKey(
        ProbeResult, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The last round this location was asked in (its measurement id, even when it stored no
    # row) and, when the vantage was unavailable then, why: unknown, not down (quorum.py).
    last_measurement = models.UUIDField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    unavailable_reason = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["monitor_id", "location"]
        constraints = [
            models.UniqueConstraint(
                fields=["monitor", "location"], name="netprobe_monitor_location_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.monitor} @ {self.location}: {self.state}"


class UnavailableLocation(models.Model):
    """A location asked in a measurement (ad-hoc, or a monitor's round) that did not answer (its
    vantage down, slow or refusing): it stores no ProbeResult, so a failure count never includes
    it, but the measurement still says it was asked and why it is missing. Pruned by `at` with
    the results (services.results_prune)."""

    measurement = models.UUIDField(db_index=True)
    location = models.CharField(max_length=64)
    reason = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["measurement", "location"]

    def __str__(self) -> str:
        return f"{self.location} unavailable in {self.measurement}"


class Vantage(models.Model):
    """A remote copy of NetProbe (NETPROBE_ROLE=vantage) the hub sends signed probes to."""

    name = models.SlugField(max_length=64, unique=True, help_text="Used in `locations`.")
    region = models.CharField(max_length=64, blank=True, help_text="e.g. eu-west-1")
    url = models.URLField(max_length=500, help_text="Base URL of the vantage.")
    secret = models.CharField(max_length=256, help_text="Shared HMAC-SHA256 key (32+ bytes).")
    enabled = models.BooleanField(default=True)
    last_check_at = models.DateTimeField(null=True, blank=True)
    last_check_ok = models.BooleanField(null=True, blank=True)
    last_check_latency_ms = models.FloatField(null=True, blank=True)
    last_check_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# Status pages, incidents and maintenance windows live in their own file.
from modules.netprobe.status_models import (  # noqa: E402, F401
    Incident,
    IncidentStatus,
    IncidentUpdate,
    MaintenanceWindow,
    StatusPage,
    StatusPageGroup,
    StatusPageMonitor,
)
