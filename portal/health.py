"""/healthz: the process answers. /readyz: it can serve (database, migrations, and each mounted
module's own readiness checks, e.g. the face model files)."""

from __future__ import annotations

import logging

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.modules import enabled_modules

logger = logging.getLogger("portal.health")

# Migrations cannot become unapplied under a running process, so once seen applied the
# (comparatively costly) migration-graph check is skipped on later probes.
_migrations_applied = False


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _pending_migrations() -> int:
    global _migrations_applied
    if _migrations_applied:
        return 0
    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    pending = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    _migrations_applied = pending == 0
    return pending


def _module_checks() -> dict[str, str]:
    checks: dict[str, str] = {}
    for module in enabled_modules():
        if module.readiness:
            checks.update(import_string(module.readiness)())
    return checks


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    try:
        connections[DEFAULT_DB_ALIAS].ensure_connection()
        checks["database"] = "ok"
    except Exception as e:  # any driver error means "not ready", never a 500
        logger.warning("readyz: database unreachable: %s", e)
        return JsonResponse(
            {
                "status": "unavailable",
                "reason": "database unreachable",
                "checks": {"database": "error"},
            },
            status=503,
        )
    pending = _pending_migrations()
    checks["migrations"] = "ok" if not pending else f"{pending} pending"
    module_checks = _module_checks()
    checks.update(module_checks)
    failing = [name for name, state in module_checks.items() if state != "ok"]
    if pending or failing:
        reason = "migrations pending" if pending else f"{failing[0]} not ready"
        return JsonResponse(
            {"status": "unavailable", "reason": reason, "checks": checks}, status=503
        )
    return JsonResponse({"status": "ok", "checks": checks})
