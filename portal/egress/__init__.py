"""The one door for outbound connections (NetProbe probes, SOS webhooks).

`policy` judges addresses and connects to exactly a judged one; `http` makes one bounded HTTP
request through it. Django-free: `get_policy()` reads the settings lazily.
"""

from __future__ import annotations

from portal.egress.http import (
    HttpResponse,
    PinnedHTTPConnection,
    PinnedHTTPSConnection,
    deadline_guard,
    http_request,
)
from portal.egress.policy import (
    CLOUD_METADATA,
    EgressForbidden,
    EgressPolicy,
    EgressResolveError,
    ResolvedAddress,
    get_policy,
)

__all__ = [
    "CLOUD_METADATA",
    "EgressForbidden",
    "EgressPolicy",
    "EgressResolveError",
    "HttpResponse",
    "PinnedHTTPConnection",
    "PinnedHTTPSConnection",
    "ResolvedAddress",
    "deadline_guard",
    "get_policy",
    "http_request",
]
