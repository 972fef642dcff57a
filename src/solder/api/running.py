"""/run, /events and the execution logs: where custom events enter, and what came of them."""

from __future__ import annotations

import functools
import json
from functools import partial
from typing import Annotated, Any

import jsonschema
from fastapi import APIRouter, Header, Query
from sqlalchemy import Connection

from solder.api.auth import AnyCaller, Caller, ServerCaller, ServicesDep, UserQuery, scoped_user
from solder.api.executions import execution_view
from solder.api.schemas import RunEvent, RunWorkflow
from solder.engine.definitions import sample_to_schema
from solder.errors import BadInput, Conflict
from solder.store import catalog, installs, runs, users
from solder.store.types import iso

router = APIRouter(tags=["running"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]
MAX_PAGE = 1_000_000  # keeps the offset inside a 64-bit integer for every store


@functools.lru_cache(maxsize=256)
def _validator(sample: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(sample_to_schema(json.loads(sample)))


def check_payload(body: dict[str, Any], data: dict[str, Any]) -> None:
    """422 naming the first field of ``data`` that does not fit the event's sample ``body``."""
    validator = _validator(json.dumps(body))
    problems = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if not problems:
        return
    err = problems[0]
    where = "data" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
    if err.validator == "required":
        missing = next(m for m in err.validator_value if m not in err.instance)
        raise BadInput(f"{where}.{missing}: required", field=f"{where}.{missing}")
    raise BadInput(f"{where}: {err.message}", field=where)


def _accept(
    conn: Connection,
    *,
    env: str,
    kind: str,
    name: str,
    user_id: str,
    payload: dict[str, Any],
    targets: list[tuple[str, str, str, str]],
    idempotency_key: str | None,
) -> list[str]:
    """Store the event and its runs; return the ids of the runs made.

    A retried call with a used Idempotency-Key runs nothing; a different call reusing the key
    is refused rather than silently dropped.
    """
    event_id, created, duplicate = runs.add_event(
        conn,
        env=env,
        kind=kind,
        name=name,
        payload=payload,
        user_id=user_id,
        install_ids=targets,
        dedupe_key=f"idem:{idempotency_key}" if idempotency_key else None,
    )
    if duplicate:
        first = runs.get_event(conn, event_id)
        if (first.kind, first.name, first.user_id, first.payload) != (kind, name, user_id, payload):
            raise Conflict("Idempotency-Key: already used for a different request")
    return created


@router.get("/events")
def list_events(who: AnyCaller, services: ServicesDep) -> dict[str, Any]:
    with services.reader.connect() as conn:
        rows = catalog.list_events(conn, who.env)
    return {"data": [{"name": r.name, "description": r.description, "body": r.body} for r in rows]}


@router.post("/run/event")
def run_event(
    body: RunEvent, who: ServerCaller, services: ServicesDep, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    with services.reader.connect() as conn:
        event = catalog.get_event(conn, who.env, body.event)
        check_payload(event.body, body.data)
        user = users.get(conn, who.env, body.user_id)
        targets = [
            (i.id, i.workflow_id, i.user_id, i.version_id)
            for i in installs.active_installs(conn, who.env, user.id, f"event:{event.name}")
        ]
    created = services.ingest.run(
        partial(_accept, env=who.env, kind="custom", name=event.name, user_id=user.id,
                payload=body.data, targets=targets, idempotency_key=idempotency_key)
    )  # fmt: skip
    if created:
        services.metrics.accepted("custom_event")
        services.dispatch.ready(created)
    return {"message": "Event successfully triggered"}


@router.post("/run/workflow")
def run_workflow(
    body: RunWorkflow,
    who: ServerCaller,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, str]:
    ref = body.workflow_id or body.workflow_name
    if not ref:
        raise BadInput("workflowId: required (or workflowName)", field="workflowId")
    with services.reader.connect() as conn:
        user = users.get(conn, who.env, body.user_id)
        wf = catalog.get_workflow(conn, who.env, ref)
        install = installs.get_install(conn, user.id, wf.id)
        if install.trigger_key != "webhook":
            raise BadInput("workflowId: this workflow is not started by a webhook trigger")
        if not install.active:
            raise Conflict("workflowId: this workflow is deactivated for the user")
    targets = [(install.id, wf.id, user.id, install.version_id)]
    created = services.ingest.run(
        partial(_accept, env=who.env, kind="webhook", name=wf.name, user_id=user.id,
                payload=body.data, targets=targets, idempotency_key=idempotency_key)
    )  # fmt: skip
    if created:
        services.metrics.accepted("run_workflow")
        services.dispatch.ready(created)
    return {"message": "success"}


def _page(
    conn: Connection,
    who: Caller,
    workflow_ref: str,
    user_ref: str | None,
    page: int,
    limit: int,
    newest_first: bool,
    errors_only: bool,
) -> tuple[Any, list[Any]]:
    """The workflow and one page of its runs, for the user the call is about (if any)."""
    uid = scoped_user(conn, who, user_ref)
    wf = catalog.get_workflow(conn, who.env, workflow_ref)
    rows = runs.runs_of(
        conn,
        who.env,
        wf.id,
        uid,
        offset=(page - 1) * limit,
        limit=limit,
        newest_first=newest_first,
        errors_only=errors_only,
    )
    return wf, rows


@router.get("/workflows/{workflow_id}/logs")
def workflow_logs(
    workflow_id: str,
    who: AnyCaller,
    services: ServicesDep,
    user_id: UserQuery = None,
    page: int = Query(1, ge=1, le=MAX_PAGE),
    limit: int = Query(10, ge=1, le=30),
    order: str = Query("desc", pattern="^(asc|desc)$"),
    error: bool = Query(False),
) -> dict[str, Any]:
    with services.reader.connect() as conn:
        _, rows = _page(conn, who, workflow_id, user_id, page, limit, order == "desc", error)
        results = runs.results_of(conn, [r.id for r in rows])
        events = runs.events_of(conn, [r.event_id for r in rows])
        data = [execution_view(r, results[r.id], events[r.event_id]) for r in rows]
    return {"data": data}


@router.get("/workflows/{workflow_id}/errors")
def workflow_errors(
    workflow_id: str,
    who: AnyCaller,
    services: ServicesDep,
    user_id: UserQuery = None,
    page: int = Query(1, ge=1, le=MAX_PAGE),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    with services.reader.connect() as conn:
        wf, rows = _page(conn, who, workflow_id, user_id, page, limit, True, True)
    return {
        "data": [
            {
                "workflowId": wf.id,
                "executionId": r.id,
                "userId": r.user_id,
                "block": (r.error or {}).get("block"),
                "errorOccurredAt": iso(r.finished_at),
                "message": (r.error or {}).get("message"),
            }
            for r in rows
        ]
    }
