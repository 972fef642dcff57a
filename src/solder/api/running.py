"""/run, /events and the execution logs: where custom events enter, and what came of them."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Annotated, Any, NamedTuple

import fastjsonschema
import jsonschema
from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import Connection

from solder.api.auth import (
    AnyCaller,
    Caller,
    ServerCaller,
    ServicesDep,
    UserQuery,
    caller,
    scoped_user,
    server_caller,
    services_of,
)
from solder.api.executions import execution_view
from solder.api.schemas import RunEvent, RunWorkflow
from solder.engine.definitions import sample_to_schema
from solder.errors import BadInput, Conflict, SolderError
from solder.store import catalog, installs, runs, users
from solder.store.types import iso

router = APIRouter(tags=["running"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]
MAX_PAGE = 1_000_000  # keeps the offset inside a 64-bit integer for every store


class _Checks(NamedTuple):
    fast: Callable[[Any], Any]
    """Compiled by fastjsonschema: raises ``JsonSchemaValueException`` when ``data`` is bad."""
    full: jsonschema.Draft202012Validator
    """Finds every problem, to name the first field; run only when ``fast`` refused."""


@functools.lru_cache(maxsize=256)
def _checks(sample: str) -> _Checks:
    schema = sample_to_schema(json.loads(sample))
    return _Checks(fastjsonschema.compile(schema), jsonschema.Draft202012Validator(schema))


def check_payload(body: Any, data: Any) -> None:
    """422 naming the first field of ``data`` that does not fit the event's sample ``body``.

    ``body`` is the stored sample, as JSON text (SQLite) or already parsed (PostgreSQL).
    """
    checks = _checks(body if isinstance(body, str) else json.dumps(body))
    try:
        checks.fast(data)
        return
    except fastjsonschema.JsonSchemaValueException:
        pass
    problems = sorted(checks.full.iter_errors(data), key=lambda e: list(e.absolute_path))
    if not problems:  # the two disagree: the full validator's verdict stands
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


async def _json_body(request: Request, model: type[RunEvent]) -> RunEvent:
    """The request body as ``model``, refused the way FastAPI refuses a declared body."""
    raw = await request.body()
    if not raw.strip():
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "required"}])
    try:
        data = json.loads(raw)
    except ValueError:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": "malformed JSON"}]
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from None


_RUN_EVENT_BODY = {
    "required": True,
    "content": {"application/json": {"schema": RunEvent.model_json_schema(by_alias=True)}},
}


@router.post("/run/event", openapi_extra={"requestBody": _RUN_EVENT_BODY})
async def run_event(request: Request) -> dict[str, Any]:
    """Fire a custom event: stored with a queued run per matching installed copy, then 200.

    The hottest endpoint, so it stays on the event loop: the body is read and checked here,
    and the lookups and inserts (``runs.accept_custom_event``) run in the group-commit thread
    that this coroutine awaits, with no worker-thread hop per request.
    """
    services = services_of(request)
    who = server_caller(caller(request))
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is not None and len(idempotency_key) > 255:
        raise BadInput("Idempotency-Key: at most 255 characters", field="Idempotency-Key")
    body = await _json_body(request, RunEvent)
    lease = timedelta(seconds=services.settings.engine.lease_seconds)
    handoff = services.dispatch.handoff(lease)
    write = partial(_accept_custom, env=who.env, name=body.event, user_ref=body.user_id,
                    payload=body.data, idempotency_key=idempotency_key, claim=handoff)  # fmt: skip
    # ``settle`` hands the runs it claimed to the executors as soon as they are committed
    accepted: runs.Accepted = await services.commits.run_async(
        write, refuses=(SolderError,), then=None if handoff is None else handoff.settle
    )
    if accepted.run_ids:
        services.metrics.accepted("custom_event")
    waiting = accepted.run_ids[accepted.claimed :]
    if waiting:
        if services.dispatch.blocks:
            await run_in_threadpool(services.dispatch.ready, waiting)
        else:
            services.dispatch.ready(waiting)
    return {"message": "Event successfully triggered"}


def _accept_custom(conn: Connection, **request: Any) -> runs.Accepted:
    return runs.accept_custom_event(conn, check=check_payload, **request)


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
    created = services.commits.run(
        partial(_accept, env=who.env, kind="webhook", name=wf.name, user_id=user.id,
                payload=body.data, targets=targets, idempotency_key=idempotency_key),
        refuses=(Conflict,),
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
