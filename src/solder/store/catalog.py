"""What the ISV defines: integrations, workflows with their released versions, custom events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from solder.engine.definitions import (
    CustomEventDef,
    IntegrationFile,
    WorkflowDef,
    definition_hash,
)
from solder.errors import BadInput, NotFound
from solder.store.tables import (
    custom_events,
    integrations,
    workflow_tests,
    workflow_versions,
    workflows,
)
from solder.store.types import new_id, utcnow


def upsert_event(conn: Connection, env: str, event: CustomEventDef) -> tuple[str, bool]:
    now = utcnow()
    row = conn.execute(
        select(custom_events).where(
            custom_events.c.environment == env, custom_events.c.name == event.name
        )
    ).first()
    if row is None:
        event_id = new_id()
        conn.execute(
            insert(custom_events).values(
                id=event_id,
                environment=env,
                name=event.name,
                description=event.description,
                body=event.body,
                created_at=now,
                updated_at=now,
            )
        )
        return event_id, True
    changed = row.body != event.body or row.description != event.description
    if changed:
        conn.execute(
            update(custom_events)
            .where(custom_events.c.id == row.id)
            .values(body=event.body, description=event.description, updated_at=now)
        )
    return str(row.id), changed


def list_events(conn: Connection, env: str) -> list[Any]:
    q = select(custom_events).where(custom_events.c.environment == env)
    return list(conn.execute(q.order_by(custom_events.c.name)))


def find_event(conn: Connection, env: str, name: str) -> Any:
    """The custom event named ``name``, or None."""
    return conn.execute(
        select(custom_events).where(
            custom_events.c.environment == env, custom_events.c.name == name
        )
    ).first()


def get_event(conn: Connection, env: str, name: str) -> Any:
    row = find_event(conn, env, name)
    if row is None:
        raise NotFound(f"event: no custom event named {name!r}", field="event")
    return row


def upsert_integration(conn: Connection, env: str, file: IntegrationFile) -> dict[str, Any]:
    """Store an integration and the drafts of its workflows; report what changed."""
    now = utcnow()
    spec = file.integration
    row = conn.execute(
        select(integrations).where(
            integrations.c.environment == env, integrations.c.key == spec.key
        )
    ).first()
    values = {"app": spec.app, "name": spec.name or spec.app, "icon": spec.icon, "updated_at": now}
    if row is None:
        integration_id = new_id()
        conn.execute(
            insert(integrations).values(
                id=integration_id, environment=env, key=spec.key, created_at=now, **values
            )
        )
    else:
        integration_id = row.id
        conn.execute(update(integrations).where(integrations.c.id == row.id).values(**values))
    result: dict[str, Any] = {"integrationId": integration_id, "workflows": []}
    for wf in file.workflows:
        workflow_id, changed = upsert_workflow(conn, env, integration_id, wf)
        result["workflows"].append({"workflowId": workflow_id, "key": wf.key, "changed": changed})
    return result


def upsert_workflow(
    conn: Connection, env: str, integration_id: str, wf: WorkflowDef
) -> tuple[str, bool]:
    """Store ``wf`` as the draft of its workflow in the integration; whether it changed."""
    now = utcnow()
    draft = wf.model_dump(mode="json", by_alias=True, exclude_none=True)
    digest = definition_hash(wf)
    row = conn.execute(
        select(workflows).where(
            workflows.c.integration_id == integration_id, workflows.c.key == wf.key
        )
    ).first()
    if row is None:
        workflow_id = new_id()
        conn.execute(
            insert(workflows).values(
                id=workflow_id,
                environment=env,
                integration_id=integration_id,
                key=wf.key,
                name=wf.name,
                draft=draft,
                draft_hash=digest,
                created_at=now,
                updated_at=now,
            )
        )
        return workflow_id, True
    if row.draft_hash == digest:
        return str(row.id), False
    conn.execute(
        update(workflows)
        .where(workflows.c.id == row.id)
        .values(name=wf.name, draft=draft, draft_hash=digest, updated_at=now)
    )
    return str(row.id), True


def release(conn: Connection, workflow_id: str, note: str | None = None) -> tuple[int, bool]:
    """Release the draft as a new numbered version unless it equals the latest one.

    ``note`` (what changed, for people) is stored with a new version; a draft equal to the
    latest version makes none, and that version's note stays as it was."""
    wf = conn.execute(select(workflows).where(workflows.c.id == workflow_id)).one()
    latest = latest_version(conn, workflow_id)
    if latest is not None and latest.hash == wf.draft_hash:
        return int(latest.number), False
    number = 1 if latest is None else int(latest.number) + 1
    conn.execute(
        insert(workflow_versions).values(
            id=new_id(),
            workflow_id=workflow_id,
            number=number,
            definition=wf.draft,
            hash=wf.draft_hash,
            released_at=utcnow(),
            note=note,
        )
    )
    return number, True


def latest_version(conn: Connection, workflow_id: str) -> Any:
    return conn.execute(
        select(workflow_versions)
        .where(workflow_versions.c.workflow_id == workflow_id)
        .order_by(workflow_versions.c.number.desc())
        .limit(1)
    ).first()


def versions(conn: Connection, workflow_id: str) -> list[Any]:
    q = select(workflow_versions).where(workflow_versions.c.workflow_id == workflow_id)
    return list(conn.execute(q.order_by(workflow_versions.c.number.desc())))


def version(conn: Connection, version_id: str) -> Any:
    return conn.execute(select(workflow_versions).where(workflow_versions.c.id == version_id)).one()


def list_integrations(conn: Connection, env: str) -> list[Any]:
    q = select(integrations).where(integrations.c.environment == env)
    return list(conn.execute(q.order_by(integrations.c.created_at, integrations.c.id)))


def find_integration(conn: Connection, env: str, key: str) -> Any:
    """The integration with the key ``key``, or None."""
    return conn.execute(
        select(integrations).where(integrations.c.environment == env, integrations.c.key == key)
    ).first()


def get_integration(conn: Connection, env: str, ref: str) -> Any:
    """By id, key or app name (case-insensitive for the app)."""
    row = conn.execute(
        select(integrations)
        .where(
            integrations.c.environment == env,
            or_(
                integrations.c.id == ref,
                integrations.c.key == ref,
                func.lower(integrations.c.app) == ref.lower(),
                func.lower(integrations.c.name) == ref.lower(),
            ),
        )
        .order_by(integrations.c.created_at)
    ).first()
    if row is None:
        raise NotFound(f"integrationId: no integration {ref!r}", field="integrationId")
    return row


def list_workflows(conn: Connection, env: str, integration_id: str | None = None) -> list[Any]:
    q = select(workflows).where(workflows.c.environment == env)
    if integration_id is not None:
        q = q.where(workflows.c.integration_id == integration_id)
    return list(conn.execute(q.order_by(workflows.c.created_at, workflows.c.id)))


def get_workflow(conn: Connection, env: str, ref: str, *, field: str = "workflowId") -> Any:
    """By id or by name (Alloy's ``workflowName``)."""
    row = conn.execute(
        select(workflows)
        .where(
            workflows.c.environment == env,
            or_(workflows.c.id == ref, workflows.c.name == ref, workflows.c.key == ref),
        )
        .order_by(workflows.c.created_at)
    ).first()
    if row is None:
        raise NotFound(f"{field}: no workflow {ref!r}", field=field)
    return row


def pick_versions(
    conn: Connection,
    flows: list[Any],
    refs: list[str],
    *,
    positional: bool,
    field: str = "versionIds",
) -> dict[str, Any]:
    """The released version asked for each workflow: ``{workflow id: version row}``.

    ``positional`` (the caller named the workflows): ``refs[i]`` is for ``flows[i]``, as a
    version id or its name (``v2`` or ``2``); an empty one means the newest. Otherwise each ref
    is a version id of one of ``flows``, at most one per workflow. Workflows not in the answer
    get their newest released version.
    """
    if not refs:
        return {}
    chosen: dict[str, Any] = {}
    if positional:
        if len(refs) != len(flows):
            raise BadInput(
                f"{field}: {len(refs)} version(s) for {len(flows)} workflow(s); give one per "
                "workflow, in the same order (an empty one for the newest)",
                field=field,
            )
        for wf, ref in zip(flows, refs, strict=True):
            if ref:
                chosen[wf.id] = _version_of(conn, wf, ref, field)
        return chosen
    by_id = {wf.id: wf for wf in flows}
    for ref in refs:
        row = conn.execute(select(workflow_versions).where(workflow_versions.c.id == ref)).first()
        if row is None or row.workflow_id not in by_id:
            raise BadInput(
                f"{field}: {ref!r} is not a released version of a workflow of this integration",
                field=field,
            )
        if row.workflow_id in chosen:
            name = by_id[row.workflow_id].name
            raise BadInput(f"{field}: two versions given for the workflow {name!r}", field=field)
        chosen[row.workflow_id] = row
    return chosen


def _version_of(conn: Connection, wf: Any, ref: str, field: str) -> Any:
    number = ref.lower().removeprefix("v")
    q = select(workflow_versions).where(workflow_versions.c.workflow_id == wf.id)
    if number.isdigit() and len(number) <= 9:
        q = q.where(or_(workflow_versions.c.id == ref, workflow_versions.c.number == int(number)))
    else:
        q = q.where(workflow_versions.c.id == ref)
    row = conn.execute(q).first()
    if row is None:
        raise BadInput(
            f"{field}: {ref!r} is not a released version of the workflow {wf.name!r}",
            field=field,
        )
    return row


def keep_test(conn: Connection, workflow_id: str, result: dict[str, Any]) -> None:
    """Keep ``result`` as the workflow's last test run (the one before it goes)."""
    conn.execute(delete(workflow_tests).where(workflow_tests.c.workflow_id == workflow_id))
    conn.execute(
        insert(workflow_tests).values(workflow_id=workflow_id, result=result, tested_at=utcnow())
    )


def last_test(conn: Connection, workflow_id: str) -> Any:
    """The workflow's last test run (``result``, ``tested_at``), or None."""
    q = select(workflow_tests).where(workflow_tests.c.workflow_id == workflow_id)
    return conn.execute(q).first()
