"""/healthz: the process answers. /readyz: it can serve (database, migrations, model files)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

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


def _missing_model_files() -> list[str]:
    if "faces" not in settings.PORTAL_MODULES:
        return []
    # A path lookup only: imports neither dlib nor numpy.
    from modules.faces.dlib_models import MODEL_FILES, ModelsNotFoundError, find_models_dir

    try:
        directory = find_models_dir()
    except ModelsNotFoundError as e:
        return [str(e)]
    return [name for name in MODEL_FILES if not (directory / name).is_file()]


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
    missing = _missing_model_files()
    checks["models"] = "ok" if not missing else "missing: " + ", ".join(missing)
    if pending or missing:
        reason = "migrations pending" if pending else "model files missing"
        return JsonResponse(
            {"status": "unavailable", "reason": reason, "checks": checks}, status=503
        )
    return JsonResponse({"status": "ok", "checks": checks})
