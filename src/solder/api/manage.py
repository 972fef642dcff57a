"""/manage: the ISV's own definitions (what ``solder push`` and later the builder use)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Connection

from solder.api.auth import ServerCaller, ServicesDep
from solder.api.errors import field_path
from solder.apps.base import App
from solder.engine import errorstream, kinds
from solder.engine.checks import check_integration
from solder.engine.definitions import EventsFile, IntegrationFile
from solder.errors import BadInput
from solder.store import catalog, outbox
from solder.store.types import iso
from solder.web import framing

router = APIRouter(prefix="/manage", tags=["management"])


def _first_field(exc: ValidationError) -> str | None:
    errors = exc.errors()
    return field_path(tuple(errors[0]["loc"])) or None if errors else None


def _problems(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        out.append(f"{field_path(tuple(err['loc']))}: {err['msg']}")
    return out


def store_events(conn: Connection, env: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Check and store an events document; each event's name and whether it changed."""
    try:
        spec = EventsFile.model_validate(body)
    except ValidationError as exc:
        raise BadInput("; ".join(_problems(exc)), field=_first_field(exc)) from exc
    names = [e.name for e in spec.events]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise BadInput(f"events: the name {repeated[0]!r} appears twice", field="events")
    out = []
    for event in spec.events:
        _, changed = catalog.upsert_event(conn, env, event)
        out.append({"name": event.name, "changed": changed})
    return out


def checked_integration(body: dict[str, Any], apps: Mapping[str, App]) -> IntegrationFile:
    """An integration document checked as ``solder push`` is: every problem at once."""
    try:
        spec = IntegrationFile.model_validate(body).with_block_ids()
    except ValidationError as exc:
        raise BadInput("; ".join(_problems(exc)), field=_first_field(exc)) from exc
    problems = check_integration(spec, apps)
    if problems:
        raise BadInput("; ".join(problems), field=problems[0].partition(": ")[0])
    return spec


def store_integration(conn: Connection, env: str, spec: IntegrationFile) -> dict[str, Any]:
    for wf in spec.workflows:
        if wf.trigger.type == "customEvent":
            catalog.get_event(conn, env, getattr(wf.trigger, "event", ""))
    return catalog.upsert_integration(conn, env, spec)


@router.put("/events")
def put_events(body: dict[str, Any], who: ServerCaller, services: ServicesDep) -> dict[str, Any]:
    with services.engine.begin() as conn:
        return {"data": store_events(conn, who.env, body)}


@router.put("/integrations")
def put_integration(
    body: dict[str, Any], who: ServerCaller, services: ServicesDep
) -> dict[str, Any]:
    spec = checked_integration(body, services.apps)
    with services.engine.begin() as conn:
        return store_integration(conn, who.env, spec)


class ReleaseBody(BaseModel):
    """What ``POST /manage/workflows/{id}/release`` may carry (the body is optional)."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(
        default=None, max_length=2000, description="what changed, shown in the version history"
    )


@router.post("/workflows/{workflow_id}/release")
def release(
    workflow_id: str,
    who: ServerCaller,
    services: ServicesDep,
    body: Annotated[ReleaseBody | None, Body()] = None,
) -> dict[str, Any]:
    note = body.note if body is not None else None
    with services.engine.begin() as conn:
        wf = catalog.get_workflow(conn, who.env, workflow_id)
        number, released = catalog.release(conn, wf.id, note)
    return {"workflowId": wf.id, "version": number, "released": released}


@router.get("/workflows/{workflow_id}/draft")
def draft(workflow_id: str, who: ServerCaller, services: ServicesDep) -> dict[str, Any]:
    with services.reader.connect() as conn:
        wf = catalog.get_workflow(conn, who.env, workflow_id)
    return {"data": wf.draft}


class ErrorEventBridge(BaseModel):
    """The error stream's second target: an EventBridge bus reached by a named connection."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    connection: str = Field(
        min_length=1, max_length=200,
        description="an eventbridge:// connection in the server's destination_connections",
    )  # fmt: skip
    event_bus: str = Field(default="default", alias="eventBus", min_length=1, max_length=1600)
    source: str = Field(default="solder", min_length=1, max_length=256)
    detail_type: str = Field(
        default="Workflow Failed", alias="detailType", min_length=1, max_length=128
    )


class EnvironmentSettings(BaseModel):
    """What the ISV sets per environment (``PUT /manage/settings``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    error_webhook_url: str | None = Field(
        default=None,
        alias="errorWebhookUrl",
        pattern=r"^https?://[^\s]+$",
        max_length=2048,
        description="every failed run is POSTed here, signed, as it happens",
    )
    frame_ancestors: list[str] | None = Field(
        default=None,
        alias="frameAncestors",
        description="the origins of the pages that may show the install modal in a frame "
        "(https://app.example.com, https://*.example.com, http://localhost:3000); unset: "
        "localhost and 127.0.0.1 only; empty: no page",
    )
    error_event_bridge: ErrorEventBridge | None = Field(
        default=None,
        alias="errorEventBridge",
        description="every failed run is also put on this EventBridge bus",
    )


@router.get("/settings")
def get_settings(who: ServerCaller, services: ServicesDep) -> dict[str, Any]:
    with services.reader.connect() as conn:
        stored = outbox.settings_of(conn, who.env)
    shown = EnvironmentSettings.model_validate(stored)
    server = {"logRetentionDays": services.settings.log_retention_days}
    return {"data": shown.model_dump(by_alias=True), "server": server}


@router.put("/settings")
def put_settings(
    body: EnvironmentSettings, who: ServerCaller, services: ServicesDep
) -> dict[str, Any]:
    if body.frame_ancestors is not None:
        body.frame_ancestors = framing.check_origins(body.frame_ancestors)
    bus = body.error_event_bridge
    if bus is not None:
        errorstream.check_bus_connection(bus.connection, services.settings)
    with services.engine.begin() as conn:
        outbox.put_settings(conn, who.env, body.model_dump(by_alias=True, exclude_none=True))
    return {"data": body.model_dump(by_alias=True)}


@router.get("/errors/deliveries")
def error_deliveries(who: ServerCaller, services: ServicesDep) -> dict[str, Any]:
    """The latest error-stream notices and how their delivery went."""
    with services.reader.connect() as conn:
        rows = outbox.of_environment(conn, who.env)
    return {
        "data": [
            {
                "id": r.id,
                "target": errorstream.TARGETS.get(r.kind, "webhook"),
                "executionId": r.run_id,
                "status": r.status,
                "attempts": r.attempts,
                "lastError": r.last_error,
                "createdAt": iso(r.created_at),
                "deliveredAt": iso(r.delivered_at),
                "nextAttemptAt": iso(r.next_attempt_at) if r.status == "pending" else None,
            }
            for r in rows
        ]
    }


@router.get("/blocks")
def block_catalog(who: ServerCaller) -> dict[str, Any]:
    """Every block type with its input and output schema (what the builder draws from)."""
    return {"data": kinds.catalog()}
