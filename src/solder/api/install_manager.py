"""/manage/users/{userId}/workflows: one user's installed copies, as the dashboard manages them.

Each copy with its version (and the newest one), its field values, its credentials' health
and whether it is active; changing field values; moving a copy to any released version
(upgrade, or pin an older one). ``PUT /workflows/{id}/upgrade`` uses :func:`move_to`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from solder.api.auth import ServerCaller, ServicesDep
from solder.api.schemas import Body
from solder.engine import lifecycle
from solder.engine.definitions import FieldSpec, released
from solder.errors import BadInput, Conflict, NotFound
from solder.runtime.services import Services
from solder.store import catalog, installs, users
from solder.store.types import iso, utcnow

router = APIRouter(prefix="/manage", tags=["management"])


def field_specs(version: Any) -> dict[tuple[str, str], FieldSpec]:
    """The fields a released version asks the user for, by (block id, name)."""
    wf = released(version.id, version.definition)
    return {(block_id, f.name): f for block_id, specs in wf.user_fields().items() for f in specs}


def _check_value(spec: FieldSpec, value: Any, where: str) -> None:
    if spec.required and value in (None, ""):
        raise BadInput(f"{where}: required", field=spec.name)
    if spec.options is not None and value is not None and value not in spec.options:
        raise BadInput(f"{where}: not one of {spec.options}", field=spec.name)


def carried_answers(current: Any, target: Any, answered: dict[str, Any]) -> dict[str, Any]:
    """The user's answers fitted to ``target``'s fields: kept where the field is the same,
    its default where the field is new; ``Conflict`` naming the field when neither works."""
    old, new = field_specs(current), field_specs(target)
    out: dict[str, Any] = {}
    for (block_id, name), spec in new.items():
        block = out.setdefault(block_id, {})
        if (block_id, name) in old:
            kept = answered.get(block_id, {}).get(name)
            if (spec.required and kept in (None, "")) or (
                spec.options is not None and kept is not None and kept not in spec.options
            ):
                raise Conflict(
                    f"fields: version {target.number} changed the field {name!r} and the "
                    "user's answer no longer fits it; the user must reinstall",
                    field=name,
                )
            block[name] = kept
            continue
        if spec.required and spec.default is None:
            raise Conflict(
                f"fields: version {target.number} asks for a new required field {name!r}; "
                "the user must reinstall",
                field=name,
            )
        block[name] = spec.default
    return out


def _replace(services: Services, install: Any, reason: str | None, **values: Any) -> None:
    """Change a copy with its trigger switched off meanwhile (a subscription may depend on
    the version and the fields), then switch it back on if it was on; ``reason`` fires an
    "on installation" trigger (a version change does, a field change does not)."""
    was_active = bool(install.active)
    lifecycle.deactivate(services, install.id)
    with services.engine.begin() as conn:
        installs.set_install(conn, install.id, **values)
    if was_active:
        lifecycle.activate(services, install.id, reason=reason)


def move_to(services: Services, install: Any, target: Any) -> dict[str, Any]:
    """Put the user's copy on the released version ``target`` (newer or older)."""
    with services.reader.connect() as conn:
        current = catalog.version(conn, install.version_id)
    if target.id == current.id:
        return {"message": f"already on version {target.number}", "version": target.number}
    answers = carried_answers(current, target, install.config or {})
    trigger_key = released(target.id, target.definition).trigger_key()
    _replace(services, install, "upgraded", version_id=target.id, config=answers,
             trigger_key=trigger_key)  # fmt: skip
    return {"message": "upgraded", "version": target.number}


def _health(row: Any) -> str:
    now = utcnow()
    if row.status == "needs_reconnect":
        return "needs_reconnect"
    if row.paused_until is not None and row.paused_until > now:
        return "rate_limited"
    return "connected"


def _copy_view(conn: Any, env: str, copy: Any, creds: dict[str, Any]) -> dict[str, Any]:
    wf = catalog.get_workflow(conn, env, copy.workflow_id)
    integration = catalog.get_integration(conn, env, wf.integration_id)
    version = catalog.version(conn, copy.version_id)
    latest = catalog.latest_version(conn, wf.id)
    answered = copy.config or {}
    fields = [
        {
            "blockId": block_id,
            "name": spec.name,
            "displayName": spec.display_name or spec.name,
            "type": spec.type,
            "required": spec.required,
            **({"options": spec.options} if spec.options is not None else {}),
            **({"description": spec.description} if spec.description else {}),
            "value": answered.get(block_id, {}).get(spec.name),
        }
        for (block_id, _), spec in field_specs(version).items()
    ]
    return {
        "workflowId": wf.id,
        "workflowName": wf.name,
        "integrationId": integration.id,
        "integrationName": integration.name,
        "installationId": copy.installation_id,
        "version": version.number,
        "latestVersion": latest.number if latest is not None else None,
        "versions": [v.number for v in catalog.versions(conn, wf.id)],
        "active": bool(copy.active),
        "installedAt": iso(copy.installed_at),
        "updatedAt": iso(copy.updated_at),
        "fields": fields,
        "credentials": [
            {
                "credentialId": c.id,
                "type": c.app,
                "name": c.name,
                "health": _health(c),
                "expiresAt": iso(c.expires_at),
                "pausedUntil": iso(c.paused_until),
                "updatedAt": iso(c.updated_at),
            }
            for cid in copy.credential_ids
            if (c := creds.get(cid)) is not None
        ],
    }


@router.get("/users/{user_id}/workflows")
def user_workflows(user_id: str, who: ServerCaller, services: ServicesDep) -> dict[str, Any]:
    """Every workflow the user has installed, with what the installation manager shows."""
    with services.reader.connect() as conn:
        user = users.get(conn, who.env, user_id)
        creds = {c.id: c for c in installs.list_credentials(conn, who.env, user.id)}
        copies = installs.installs_of_user(conn, user.id)
        data = [_copy_view(conn, who.env, c, creds) for c in copies]
    data.sort(key=lambda v: (v["integrationName"], v["workflowName"]))
    return {"user": users.public(user), "data": data}


class FieldValue(Body):
    block_id: str = Field(alias="blockId", min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=128)
    value: Any = None


class FieldChanges(Body):
    fields: list[FieldValue] = Field(min_length=1, max_length=500)


def _user_copy(services: Services, env: str, user_id: str, workflow_id: str) -> Any:
    with services.reader.connect() as conn:
        user = users.get(conn, env, user_id)
        wf = catalog.get_workflow(conn, env, workflow_id)
        return installs.get_install(conn, user.id, wf.id)


@router.put("/users/{user_id}/workflows/{workflow_id}/fields")
def change_fields(
    user_id: str, workflow_id: str, body: FieldChanges, who: ServerCaller, services: ServicesDep
) -> dict[str, Any]:
    """Change some of the user's answers; the others are kept. Checked like an install."""
    install = _user_copy(services, who.env, user_id, workflow_id)
    with services.reader.connect() as conn:
        specs = field_specs(catalog.version(conn, install.version_id))
    config = {block: dict(values) for block, values in (install.config or {}).items()}
    for i, item in enumerate(body.fields):
        spec = specs.get((item.block_id, item.name))
        if spec is None:
            raise BadInput(
                f"fields[{i}].name: block {item.block_id!r} has no field {item.name!r}",
                field="name",
            )
        _check_value(spec, item.value, f"fields[{i}].value ({item.name})")
        config.setdefault(item.block_id, {})[item.name] = item.value
    _replace(services, install, None, config=config)
    return {"success": True}


class VersionChoice(Body):
    version: int = Field(ge=1, le=1_000_000, description="a released version number")


@router.put("/users/{user_id}/workflows/{workflow_id}/version")
def pin_version(
    user_id: str, workflow_id: str, body: VersionChoice, who: ServerCaller, services: ServicesDep
) -> dict[str, Any]:
    """Move the user's copy to a chosen released version: upgrade, or pin an older one."""
    install = _user_copy(services, who.env, user_id, workflow_id)
    with services.reader.connect() as conn:
        target = next(
            (v for v in catalog.versions(conn, install.workflow_id) if v.number == body.version),
            None,
        )
    if target is None:
        raise NotFound(f"version: no released version {body.version}", field="version")
    return move_to(services, install, target)
