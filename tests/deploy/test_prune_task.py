"""The daily prune event (portal.lambda_tasks.prune) runs every module's prune even when one
fails, then fails the invocation naming each failure, as entrypoint.sh's `prune` does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from modules.sos.models import InboundMessage
from portal import lambda_tasks


def test_a_failing_prune_does_not_stop_the_others_and_fails_the_event(db, settings):
    settings.PORTAL_MODULES = ["netprobe", "sos", "faces"]
    settings.NETPROBE_RETENTION_DAYS = -1  # netprobe_prune refuses it (CommandError)
    settings.SOS_INBOUND_RETENTION_DAYS = 7
    old = InboundMessage.objects.create(provider="sns-sms", message_id="old")
    InboundMessage.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=8))

    with pytest.raises(lambda_tasks.PruneFailed, match="netprobe_prune: CommandError") as failed:
        lambda_tasks.prune()

    netprobe, faces, sos = failed.value.results
    assert [r["command"] for r in failed.value.results] == [
        "netprobe_prune",
        "faces_prune",
        "sos_prune",
    ]
    assert "0 or more" in netprobe["error"]
    assert "deleted" in faces["output"]
    assert sos["output"] == "Deleted 1 inbound reply record(s) older than 7 day(s)."
    assert not InboundMessage.objects.exists()
    assert "faces_prune" not in str(failed.value)


def test_the_prune_event_answers_with_every_result_when_all_succeed(db, settings):
    settings.PORTAL_MODULES = ["netprobe", "sos", "faces"]
    result = lambda_tasks.prune()
    assert [r["command"] for r in result["results"]] == [
        "netprobe_prune",
        "faces_prune",
        "sos_prune",
    ]
    assert all("error" not in r for r in result["results"])
