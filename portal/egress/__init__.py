"""The one door for outbound connections (NetProbe probes, SOS webhooks).

`policy` judges addresses and connects to exactly a judged one; `http` makes one HTTP request
through it; `deadline` bounds a whole exchange, however slowly the peer answers. Django-free:
`get_policy()` reads the settings lazily.
"""

from __future__ import annotations

from portal.egress.deadline import Deadline
from portal.egress.http import (
    HttpResponse,
    PinnedHTTPConnection,
    PinnedHTTPSConnection,
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
    "Deadline",
    "EgressForbidden",
    "EgressPolicy",
    "EgressResolveError",
    "HttpResponse",
    "PinnedHTTPConnection",
    "PinnedHTTPSConnection",
    "ResolvedAddress",
    "get_policy",
    "http_request",
]
