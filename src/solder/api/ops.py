"""Operations endpoints: liveness, readiness and Prometheus metrics.

None needs an API key and none is part of the Alloy surface (they are left out of
``/openapi.json``)::

    GET /healthz   200 while the process answers; touches nothing
    GET /readyz    200 when the store answers and its schema is at the migrations' head,
                   else 503 naming the failing check; also says whether this process runs
                   workers (an API-only process is still ready)
    GET /metrics   Prometheus text format; see solder.runtime.metrics
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

from alembic.script import ScriptDirectory
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Column, Connection, MetaData, String, Table, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError

from solder.api.auth import services_of
from solder.runtime.metrics import metrics_of
from solder.store import migrate

if TYPE_CHECKING:
    from solder.engine.worker import WorkerPool

log = logging.getLogger("solder.api")

router = APIRouter(include_in_schema=False)

OK = "ok"
# Alembic's own table, read directly: its MigrationContext logs at INFO on every use.
_versions = Table("alembic_version", MetaData(), Column("version_num", String(32)))


def install(app: FastAPI, workers: WorkerPool | None) -> None:
    """Add the routes; hold the process's worker pool and metrics on ``app.state``."""
    app.state.workers = workers
    app.state.metrics = metrics_of(app.state.services)
    app.include_router(router)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Answered on the event loop: a thread pool stuck on the database does not delay it."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    services = services_of(request)
    checks = {"database": "unreachable", "migrations": "not checked"}
    try:
        with services.reader.connect() as conn:
            conn.execute(text("SELECT 1"))
            checks["database"] = OK
            checks["migrations"] = _schema_state(conn)
    except SQLAlchemyError as exc:
        log.warning("readiness: %s", str(exc).splitlines()[0])
        if checks["database"] == OK:
            checks["migrations"] = "unreadable"
    failing = [name for name, state in checks.items() if state != OK]
    checks["workers"] = _workers_state(request.app.state.workers)
    if not failing:
        return JSONResponse({"status": "ready", "checks": checks})
    message = "not ready: " + ", ".join(failing)
    body = {"status": "not ready", "message": message, "checks": checks}
    return JSONResponse(body, status_code=503)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    held = metrics_of(services_of(request))
    return Response(generate_latest(held.registry), media_type=CONTENT_TYPE_LATEST)


@functools.cache
def _revisions() -> tuple[frozenset[str], frozenset[str]]:
    """The migration scripts' heads and every revision they know; read once per process."""
    script = ScriptDirectory(str(migrate.MIGRATIONS))
    known = frozenset(r.revision for r in script.walk_revisions())
    return frozenset(script.get_heads()), known


def _schema_state(conn: Connection) -> str:
    if not inspect(conn).has_table(_versions.name):
        return "not initialised"
    current = frozenset(conn.execute(select(_versions.c.version_num)).scalars())
    heads, known = _revisions()
    if current == heads:
        return OK
    if not current:
        return "not initialised"
    if current - known:
        return "unknown revision (newer than this code?)"
    return "upgrade pending"


def _workers_state(pool: WorkerPool | None) -> str:
    return OK if pool is not None and pool.running else "not running"
