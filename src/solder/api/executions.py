"""/logs and re-runs: every execution of an environment, paged, and running one again.

``GET /logs`` is Alloy's account-wide execution log; each item has the shape of a
``/workflows/{workflowId}/logs`` item plus ``workflowId`` and ``userId``. A user token sees
only its own user's executions. A re-run is a new run of the user's current installed
version fed a copy of the original event's payload; the original run is left as it was.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime
from sqlalchemy import Connection

from solder.api.auth import AnyCaller, ServerCaller, ServicesDep, scoped_user
from solder.errors import BadInput, Conflict, NotFound
from solder.store import catalog, installs, runs, users
from solder.store.types import iso

router = APIRouter(tags=["executions"])
MAX_SKIP = 1_000_000_000  # keeps the offset inside a 64-bit integer for every store


def execution_view(run: Any, results: list[Any], event: Any) -> dict[str, Any]:
    """One execution as ``/workflows/{workflowId}/logs`` and ``/logs`` show it."""
    return {
        "executionId": run.id,
        "status": run.status,
        "startedAt": iso(run.started_at or run.created_at),
        "stoppedAt": iso(run.finished_at),
        "attempt": run.attempt,
        "error": run.error,
        "results": [
            {
                "blockId": r.block_id.split("#", 1)[0],
                **({"item": r.block_id.split("#", 1)[1]} if "#" in r.block_id else {}),
                "blockName": r.block_name,
                "blockType": r.block_type,
                "status": r.status,
                "attempts": r.attempts,
                "startedAt": iso(r.started_at),
                "stoppedAt": iso(r.finished_at),
                "input": r.input,
                "data": r.output,
                "error": r.error,
            }
            for r in results
        ],
        "inputs": event.payload,
    }


def _views(conn: Connection, rows: Sequence[Any]) -> list[dict[str, Any]]:
    results = runs.results_of(conn, [r.id for r in rows])
    events = runs.events_of(conn, [r.event_id for r in rows])
    return [
        {
            **execution_view(r, results[r.id], events[r.event_id]),
            "workflowId": r.workflow_id,
            "userId": r.user_id,
        }
        for r in rows
    ]


def _no_execution(execution_id: str) -> NotFound:
    return NotFound(f"executionId: no execution {execution_id!r}", field="executionId")


def _version_id(conn: Connection, workflow_id: str | None, number: int | None) -> str | None:
    if number is None:
        return None
    if workflow_id is None:
        raise BadInput("version: needs workflowId (a version number belongs to a workflow)",
                       field="version")  # fmt: skip
    for v in catalog.versions(conn, workflow_id):
        if v.number == number:
            return str(v.id)
    raise NotFound(f"version: the workflow has no released version {number}", field="version")


@router.get("/logs")
def list_logs(
    who: AnyCaller,
    services: ServicesDep,
    skip: int = Query(0, ge=0, le=MAX_SKIP),
    limit: int = Query(20, ge=1, le=100),
    sort_by: Literal["startedAt", "stoppedAt", "createdAt"] = Query("startedAt", alias="sortBy"),
    sort_order: Literal["asc", "desc"] = Query("desc", alias="sortOrder"),
    user_id: str | None = Query(None, alias="userId"),
    workflow_id: str | None = Query(None, alias="workflowId"),
    status: Literal["queued", "running", "succeeded", "failed"] | None = Query(None),
    version: int | None = Query(None, ge=1, le=1_000_000, description="needs workflowId"),
    since: Annotated[AwareDatetime | None, Query(description="created at or after")] = None,
    until: Annotated[AwareDatetime | None, Query(description="created before")] = None,
) -> dict[str, Any]:
    """Executions of the key's environment, newest first unless ``sortOrder=asc``.

    ``currentPage`` is 1-based (``skip // limit + 1``); ``totalPages`` is 0 when nothing
    matches. Solder adds the filters ``version`` (a released version number of
    ``workflowId``), ``since`` and ``until`` (when the run was created, with a time zone),
    and ``sortBy=createdAt``.
    """
    with services.reader.connect() as conn:
        uid = scoped_user(conn, who, user_id)
        wid = None if not workflow_id else str(catalog.get_workflow(conn, who.env, workflow_id).id)
        where: dict[str, Any] = {
            "user_id": uid,
            "workflow_id": wid,
            "status": status,
            "version_id": _version_id(conn, wid, version),
            "since": since,
            "until": until,
        }
        total = runs.count_runs(conn, who.env, **where)
        rows = runs.list_runs(
            conn,
            who.env,
            **where,
            sort=sort_by,
            newest_first=sort_order == "desc",
            offset=skip,
            limit=limit,
        )
        data = _views(conn, rows)
    return {
        "data": data,
        "totalItems": total,
        "totalPages": math.ceil(total / limit),
        "currentPage": skip // limit + 1,
        "pageSize": limit,
    }


@router.get("/logs/{execution_id}")
def get_log(execution_id: str, who: AnyCaller, services: ServicesDep) -> dict[str, Any]:
    with services.reader.connect() as conn:
        run = runs.find_run(conn, who.env, execution_id)
        if run is None or (who.user_id is not None and run.user_id != who.user_id):
            raise _no_execution(execution_id)
        (view,) = _views(conn, [run])
    return {"data": view}


@router.post("/workflows/{workflow_id}/rerun/{execution_id}")
def rerun(
    workflow_id: str,
    execution_id: str,
    who: ServerCaller,
    services: ServicesDep,
    user_id: str = Query(alias="userId", min_length=1),
) -> dict[str, str]:
    with services.engine.begin() as conn:
        user = users.get(conn, who.env, user_id)
        wf = catalog.get_workflow(conn, who.env, workflow_id)
        run = runs.find_run(conn, who.env, execution_id)
        if run is None or run.workflow_id != wf.id or run.user_id != user.id:
            raise _no_execution(execution_id)
        install = installs.find_install(conn, user.id, wf.id)
        if install is None:
            raise Conflict(
                "workflowId: the user no longer has this workflow installed; "
                "reinstall it to re-run an execution",
                field="workflowId",
            )
        if not install.active:
            raise Conflict(
                "workflowId: this workflow is deactivated for the user; "
                "activate it to re-run an execution",
                field="workflowId",
            )
        new_id = runs.add_rerun(conn, run, install.id, install.version_id)
    services.dispatch.ready([new_id])
    return {"message": "Execution re-run", "executionUuid": new_id}
