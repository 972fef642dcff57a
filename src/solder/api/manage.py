"""/manage: the ISV's own definitions (what ``solder push`` and later the builder use)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import ValidationError

from solder.api.auth import ServerCaller, ServicesDep
from solder.api.errors import field_path
from solder.engine.checks import check_integration
from solder.engine.definitions import EventsFile, IntegrationFile
from solder.errors import BadInput
from solder.store import catalog

router = APIRouter(prefix="/manage", tags=["management"])


def _problems(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        out.append(f"{field_path(tuple(err['loc']))}: {err['msg']}")
    return out


@router.put("/events")
def put_events(body: dict[str, Any], who: ServerCaller, services: ServicesDep) -> dict[str, Any]:
    try:
        spec = EventsFile.model_validate(body)
    except ValidationError as exc:
        raise BadInput("; ".join(_problems(exc))) from exc
    names = [e.name for e in spec.events]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise BadInput(f"events: the name {repeated[0]!r} appears twice", field="events")
    out = []
    with services.engine.begin() as conn:
        for event in spec.events:
            _, changed = catalog.upsert_event(conn, who.env, event)
            out.append({"name": event.name, "changed": changed})
    return {"data": out}


@router.put("/integrations")
def put_integration(
    body: dict[str, Any], who: ServerCaller, services: ServicesDep
) -> dict[str, Any]:
    try:
        spec = IntegrationFile.model_validate(body).with_block_ids()
    except ValidationError as exc:
        raise BadInput("; ".join(_problems(exc))) from exc
    problems = check_integration(spec, services.apps)
    if problems:
        raise BadInput("; ".join(problems))
    with services.engine.begin() as conn:
        for wf in spec.workflows:
            if wf.trigger.type == "customEvent":
                catalog.get_event(conn, who.env, getattr(wf.trigger, "event", ""))
        return catalog.upsert_integration(conn, who.env, spec)


@router.post("/workflows/{workflow_id}/release")
def release(workflow_id: str, who: ServerCaller, services: ServicesDep) -> dict[str, Any]:
    with services.engine.begin() as conn:
        wf = catalog.get_workflow(conn, who.env, workflow_id)
        number, released = catalog.release(conn, wf.id)
    return {"workflowId": wf.id, "version": number, "released": released}


@router.get("/workflows/{workflow_id}/draft")
def draft(workflow_id: str, who: ServerCaller, services: ServicesDep) -> dict[str, Any]:
    with services.reader.connect() as conn:
        wf = catalog.get_workflow(conn, who.env, workflow_id)
    return {"data": wf.draft}
