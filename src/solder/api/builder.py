"""/manage routes of the workflow builder: new integrations, checks, drafts, export, import.

The contract shared with the dashboard is ``docs/dashboard.md`` ("Builder API"). A workflow
document is one entry of ``workflows:`` in the file ``solder push`` reads; the builder saves
it as the workflow's draft after the same checks ``solder push`` makes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from solder.api import manage
from solder.api.auth import ServerCaller, ServicesDep
from solder.api.problems import Problem, check_document
from solder.engine import compare, documents
from solder.engine.definitions import KEY_PATTERN, IntegrationDef, IntegrationFile
from solder.errors import BadInput, Conflict, NotFound
from solder.runtime.services import Services
from solder.store import catalog

router = APIRouter(prefix="/manage", tags=["builder"])

IMPORT_TYPES = {
    "application/json": True,
    "text/yaml": False,
    "application/yaml": False,
    "application/x-yaml": False,
    "text/x-yaml": False,
}
"""Media types ``POST /manage/import`` reads: whether each is JSON."""


class NewIntegration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN)
    app: str = Field(min_length=1, max_length=64)
    name: str | None = Field(default=None, min_length=1, max_length=255)


@router.post("/integrations/new")
def new_integration(
    body: NewIntegration, who: ServerCaller, services: ServicesDep
) -> dict[str, Any]:
    """Create an integration with no workflows, or answer the one with this key."""
    if body.app not in services.apps:
        raise BadInput(f"app: unknown app {body.app!r}", field="app")
    try:
        return _new_integration(services, who.env, body)
    except IntegrityError:  # made at the same moment by another request: answer that one
        return _new_integration(services, who.env, body)


def _new_integration(services: Services, env: str, body: NewIntegration) -> dict[str, Any]:
    with services.engine.begin() as conn:
        found = catalog.find_integration(conn, env, body.key)
        if found is not None:
            if found.app != body.app:
                raise Conflict(
                    f"app: the integration {body.key!r} exists for the app {found.app!r}",
                    field="app",
                )
            return {"integrationId": found.id}
        head = IntegrationDef(key=body.key, app=body.app, name=body.name)
        stored = catalog.upsert_integration(conn, env, IntegrationFile(integration=head))
        return {"integrationId": stored["integrationId"]}


class CheckBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    integration_id: str = Field(alias="integrationId", min_length=1, max_length=64)
    workflow: Any = Field(description="one entry of workflows: in a definition file")


def _event_exists(conn: Connection, env: str) -> Callable[[str], bool]:
    """Whether the environment defines the custom event named so."""
    return lambda name: catalog.find_event(conn, env, name) is not None


@router.post("/workflows/check")
def check(body: CheckBody, who: ServerCaller, services: ServicesDep) -> dict[str, Any]:
    """Every problem of a workflow document at once; a bad workflow is a normal answer."""
    with services.reader.connect() as conn:
        catalog.get_integration(conn, who.env, body.integration_id)
        _, problems = check_document(body.workflow, services.apps, _event_exists(conn, who.env))
    return {"ok": not problems, "problems": problems}


def refusal(problems: list[Problem]) -> BadInput:
    """The 422 of a refused workflow document: its first problem, and all of them."""
    first = problems[0]
    error = BadInput(f"{first['path']}: {first['message']}", field=first["field"] or first["path"])
    error.details = {"problems": problems}
    return error


@router.put("/integrations/{integration_id}/workflows/{key}")
def save_draft(
    integration_id: str,
    key: str,
    body: dict[str, Any],
    who: ServerCaller,
    services: ServicesDep,
) -> dict[str, Any]:
    """Save a workflow document as the workflow's draft (a new key makes a new workflow)."""
    doc = {"key": key, **body}
    if doc["key"] != key:
        raise BadInput(f"key: {doc['key']!r} differs from the key in the path {key!r}", "key")
    with services.engine.begin() as conn:
        row = catalog.get_integration(conn, who.env, integration_id)
        wf, problems = check_document(doc, services.apps, _event_exists(conn, who.env))
        if problems or wf is None:
            raise refusal(problems)
        head = IntegrationDef(key=row.key, app=row.app, name=row.name)
        spec = IntegrationFile(integration=head, workflows=[wf]).with_block_ids()
        workflow_id, changed = catalog.upsert_workflow(conn, who.env, row.id, spec.workflows[0])
    return {"workflowId": workflow_id, "key": key, "changed": changed}


@router.get("/integrations/{integration_id}/export")
def export(
    integration_id: str,
    who: ServerCaller,
    services: ServicesDep,
    fmt: Annotated[Literal["yaml", "json"], Query(alias="format")] = "yaml",
    workflow: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    """The integration's drafts as the file ``solder push`` reads, byte for byte stable."""
    with services.reader.connect() as conn:
        row = catalog.get_integration(conn, who.env, integration_id)
        flows = catalog.list_workflows(conn, who.env, row.id)
    if workflow is not None:
        flows = [wf for wf in flows if wf.key == workflow]
        if not flows:
            raise NotFound(f"workflow: the integration has no workflow {workflow!r}", "workflow")
    document = documents.integration_document(row, [wf.draft for wf in flows])
    text = documents.render(document, fmt)
    media = documents.MEDIA_TYPES[fmt]
    return Response(text, media_type=f"{media}; charset=utf-8")


_FILE_BODY = {
    "requestBody": {
        "required": True,
        "description": "a definition file as solder push reads it",
        "content": {
            media: {"schema": {"type": "string"}}
            for media in ("text/yaml", "application/yaml", "application/json")
        },
    }
}


@router.post("/import", openapi_extra=_FILE_BODY)
async def import_file(
    request: Request,
    who: ServerCaller,
    services: ServicesDep,
    release: bool = False,
) -> dict[str, Any]:
    """A definition file as ``solder push`` sends it, all or nothing; the same report."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media not in IMPORT_TYPES:
        raise BadInput(
            f"Content-Type: {media or 'none'!r} is not one of text/yaml, application/yaml or "
            "application/json",
            field="Content-Type",
        )
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput("body: not UTF-8 text", field="body") from exc
    docs = documents.parse(text, is_json=IMPORT_TYPES[media])
    return await run_in_threadpool(_import, services, who.env, docs, release)


def _import(services: Services, env: str, docs: list[dict[str, Any]], release: bool) -> Any:
    for doc in docs:
        if "integration" not in doc and "events" not in doc:
            raise BadInput("body: expected an 'integration' or 'events' document", "body")
    found = [doc for doc in docs if "integration" in doc]
    if len(found) > 1:
        raise BadInput("body: one integration per import (this file holds several)", "body")
    specs = [manage.checked_integration(doc, services.apps) for doc in found]
    report: dict[str, Any] = {"integrationId": None, "workflows": [], "events": []}
    with services.engine.begin() as conn:
        for doc in docs:
            if "events" in doc:
                report["events"] += manage.store_events(conn, env, doc)
        for spec in specs:
            stored = manage.store_integration(conn, env, spec)
            report["integrationId"] = stored["integrationId"]
            for item in stored["workflows"]:
                if release:
                    item["version"], _ = catalog.release(conn, item["workflowId"])
                report["workflows"].append(item)
    return report


@router.get("/workflows/{workflow_id}/diff")
def diff(
    workflow_id: str,
    who: ServerCaller,
    services: ServicesDep,
    since: Annotated[int | None, Query(alias="from", ge=1)] = None,
    to: Annotated[str, Query(max_length=16, pattern=r"^(draft|[0-9]{1,9})$")] = "draft",
) -> dict[str, Any]:
    """What changed between two released versions, or a version and the draft."""
    with services.reader.connect() as conn:
        wf = catalog.get_workflow(conn, who.env, workflow_id)
        integration = catalog.get_integration(conn, who.env, wf.integration_id)
        numbered = {int(v.number): v for v in catalog.versions(conn, wf.id)}
    if since is None:
        if not numbered:
            raise BadInput("from: the workflow has no released version yet", field="from")
        since = max(numbered)
    if since not in numbered:
        raise BadInput(f"from: the workflow has no version {since}", field="from")
    if to == "draft":
        after = wf.draft
    elif int(to) in numbered:
        after = numbered[int(to)].definition
    else:
        raise BadInput(f"to: the workflow has no version {to}", field="to")
    before = numbered[since].definition
    text = compare.unified(integration, before, after, f"v{since}", "draft" if to == "draft"
                           else f"v{to}")  # fmt: skip
    return {
        "from": since,
        "to": to if to == "draft" else int(to),
        "text": text,
        "changes": compare.changes(integration.key, before, after),
    }
