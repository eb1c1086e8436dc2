from __future__ import annotations

from django.db import models


class TrafficDay(models.Model):
    """Requests and their total duration per module and day, as the FinOps page reads them.
    Rows grow by atomic increments from each process's in-memory counts (portal.finops.traffic)."""

    day = models.DateField()
    module = models.CharField(max_length=16)
    requests = models.PositiveBigIntegerField(default=0)
    duration_ms = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-day", "module"]
        constraints = [
            models.UniqueConstraint(fields=["day", "module"], name="portal_traffic_day_module")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.module}: {self.requests}"
