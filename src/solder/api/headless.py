"""/headless and /installations: installing workflows for a user without the modal."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Query

from solder.api.auth import AnyCaller, ServicesDep
from solder.api.schemas import CompleteInstallation, NewCredential, StartInstallation
from solder.apps.base import App
from solder.engine import lifecycle, output
from solder.engine.definitions import FieldSpec, WorkflowDef, released
from solder.errors import (
    BadInput,
    Conflict,
    FatalError,
    ReconnectNeeded,
    RetryableError,
    SolderError,
)
from solder.runtime.services import Services
from solder.store import catalog, installs, links, users
from solder.store.types import iso

router = APIRouter(tags=["installations"])
log = logging.getLogger("solder.api")


@router.post("/headless/credentials")
def add_credential(body: NewCredential, who: AnyCaller, services: ServicesDep) -> dict[str, Any]:
    app = services.apps.get(body.credential.type.lower())
    if app is None:
        raise BadInput(f"credential.type: unknown app {body.credential.type!r}", "credential.type")
    if app.is_oauth:
        raise BadInput(
            f"credential.type: {app.key} connects with OAuth: GET /headless/oauthUrl",
            "credential.type",
        )
    given = {
        f.name: body.credential.data[f.name]
        for f in app.credential_fields
        if body.credential.data.get(f.name) not in (None, "")
    }
    missing = [f.name for f in app.credential_fields if f.required and f.name not in given]
    if missing:
        raise BadInput(f"credential.data.{missing[0]}: required", f"credential.data.{missing[0]}")
    for name, value in given.items():
        if not isinstance(value, str):
            where = f"credential.data.{name}"
            raise BadInput(f"{where}: Input should be a valid string", where)
    with services.engine.connect() as conn:
        user = users.get(conn, who.env, body.user_id)
    who.own_user(user.id)
    data = given  # an optional field left empty is not stored
    _test_credential(services, app, data)
    with services.engine.begin() as conn:
        cid = installs.add_credential(conn, services.ring, who.env, user.id, app.key, data)
    return {"success": True, "credentialId": cid}


def _test_credential(services: Services, app: App, data: dict[str, Any]) -> None:
    """The app's cheap call with the new credential: one it refuses is not stored.

    A refusal (401/403, or another 4xx such as an unknown store) is the user's to fix: 422
    naming ``credential`` with the app's reason.
    An app that cannot be reached or fails (5xx, 429, a timeout) says nothing about the
    credential, so it is stored and the failure logged; its first run will tell.
    """
    if app.test_credential is None:
        return
    try:
        app.test_credential(services.app_context(app, data))
    except (ReconnectNeeded, FatalError) as exc:  # 401/403, or another 4xx (a wrong store)
        raise BadInput(f"credential: {app.key} refused it: {exc.message}", "credential") from exc
    except RetryableError as exc:
        log.warning("could not check a new %s credential: %s", app.key, exc.message)


def live_options(app: App | None, action: str | None, field_name: str) -> str | None:
    """The dropdown loader that fills ``field_name`` of ``app``'s action, if it declares one.

    A user field supplies the action input of the same name; when that input names an
    ``@options`` loader, the modal fills the field from the user's own connected account.
    """
    found = app.actions.get(action or "") if app is not None else None
    if found is None:
        return None
    for name, info in found.input_model.model_fields.items():
        if field_name in (name, info.alias):
            extra = info.json_schema_extra
            wanted = extra.get("options") if isinstance(extra, dict) else None
            return wanted if isinstance(wanted, str) else None
    return None


def _field_view(
    spec: FieldSpec, app: App | None = None, action: str | None = None
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "name": spec.name,
        "displayName": spec.display_name or spec.name,
        "type": spec.type,
        "required": spec.required,
    }
    if spec.options is not None:
        view["options"] = spec.options
    if spec.default is not None:
        view["default"] = spec.default
    if spec.description:
        view["description"] = spec.description
    loader = live_options(app, action, spec.name)
    if loader is not None and app is not None:
        view["optionsFrom"] = {"app": app.key, "name": loader}
    return view


@router.post("/headless/startInstallation")
def start(body: StartInstallation, who: AnyCaller, services: ServicesDep) -> dict[str, Any]:
    with services.reader.connect() as conn:
        user = users.get(conn, who.env, body.user_id)
        who.own_user(user.id)
        integration = catalog.get_integration(conn, who.env, body.integration_id)
        for cid in body.credential_ids:
            installs.get_credential(conn, who.env, user.id, cid)
        flows = catalog.list_workflows(conn, who.env, integration.id)
        if body.workflow_ids is not None:
            known = {w.id: w for w in flows}
            unknown = [ref for ref in body.workflow_ids if ref not in known]
            if unknown:
                raise BadInput(f"workflowIds: not in this integration: {unknown[0]}")
            flows = [known[ref] for ref in dict.fromkeys(body.workflow_ids)]
        asked = catalog.pick_versions(
            conn, flows, body.version_ids or [], positional=body.workflow_ids is not None
        )
        data: list[dict[str, Any]] = []
        chosen = []
        streams = False
        for wf in flows:
            latest = asked.get(wf.id) or catalog.latest_version(conn, wf.id)
            if latest is None:
                continue  # never released: not installable
            chosen.append(wf.id)
            definition = released(latest.id, latest.definition)
            streams = streams or any(b.type == "streamData" for b in definition.all_blocks())
            for block in definition.all_blocks():
                if block.fields:
                    app = services.apps.get(getattr(block, "app", None) or "")
                    action = getattr(block, "action", None)
                    data.append(
                        {
                            "workflowId": wf.id,
                            "app": getattr(block, "app", None) or integration.app,
                            "blockId": block.id,
                            "fields": [_field_view(f, app, action) for f in block.fields],
                        }
                    )
        if not chosen:
            raise BadInput("workflowIds: this integration has no released workflow")
    # checked outside the write: the URL's name is resolved for the egress guard
    override = output.check_with(services, body.output_override, streams=streams)
    with services.engine.begin() as conn:
        installation_id = installs.start_installation(
            conn, who.env, user.id, integration.id, body.credential_ids, chosen,
            version_ids={wf_id: row.id for wf_id, row in asked.items()},
            output_override=override,
        )  # fmt: skip
    return {"installationId": installation_id, "data": data}


def _answers(body: CompleteInstallation) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for item in body.data:
        block = out.setdefault((item.workflow_id, item.block_id), {})
        for f in item.fields:
            block[f.name] = f.value
    return out


def _config_for(
    wf_id: str, definition: WorkflowDef, answers: dict[tuple[str, str], dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    config: dict[str, dict[str, Any]] = {}
    for block_id, specs in definition.user_fields().items():
        given = answers.get((wf_id, block_id), {})
        values: dict[str, Any] = {}
        for spec in specs:
            value = given.get(spec.name, spec.default)
            if spec.required and value in (None, ""):
                raise BadInput(
                    f"data.fields.{spec.name}: required (workflow {wf_id}, block {block_id})",
                    field=spec.name,
                )
            if spec.options is not None and value is not None and value not in spec.options:
                raise BadInput(f"data.fields.{spec.name}: not one of {spec.options}", spec.name)
            values[spec.name] = value
        config[block_id] = values
    return config


@router.post("/headless/completeInstallation")
def complete(body: CompleteInstallation, who: AnyCaller, services: ServicesDep) -> dict[str, Any]:
    """Install every chosen workflow, or none.

    The answers are checked first; a copy the user already has is switched off (with the
    subscription of its own version) before it is replaced; then each copy is switched on. If
    an app refuses (say, the store rejects the credential), every copy made here is removed,
    replaced copies get their old settings back, and the installation can be completed again.
    """
    answers = _answers(body)
    with services.reader.connect() as conn:
        inst = installs.get_installation(conn, who.env, body.installation_id)
        who.own_user(inst.user_id)
        if inst.status == "complete":
            raise Conflict("installationId: this installation is already complete")
        link = links.get(conn, who.link) if who.link is not None else None
        if link is not None and link.used_at is not None:  # checked again when marked used
            raise Conflict("token: this install link was used already", field="token")
        cred_apps = {
            installs.get_credential(conn, who.env, inst.user_id, cid).app: cid
            for cid in inst.credential_ids
        }
        plans = []
        asked = inst.version_ids or {}
        for wf_id in inst.workflow_ids:
            latest = (
                catalog.version(conn, asked[wf_id])
                if wf_id in asked
                else catalog.latest_version(conn, wf_id)
            )
            definition = released(latest.id, latest.definition)
            for app in definition.apps():
                if app not in cred_apps:
                    raise BadInput(f"credentialIds: no {app} credential given", "credentialIds")
            config = _config_for(wf_id, definition, answers)
            previous = installs.find_install(conn, inst.user_id, wf_id)
            plans.append((wf_id, latest, definition, config, previous))
    for *_, previous in plans:
        if previous is not None and previous.active:
            lifecycle.deactivate(services, previous.id)
    install_ids: list[str] = []
    with services.engine.begin() as conn:
        for wf_id, latest, definition, config, previous in plans:
            values = {
                "environment": who.env,
                "installation_id": inst.id,
                "user_id": inst.user_id,
                "workflow_id": wf_id,
                "version_id": latest.id,
                "config": config,
                "credential_ids": list(cred_apps.values()),
                "active": False,
                "state": {},
                "trigger_key": definition.trigger_key(),
                "output_override": _override(inst.output_override, previous),
            }
            install_ids.append(installs.put_install(conn, values))
        form = [a.model_dump(by_alias=True) for a in body.data]
        installs.complete_installation(conn, inst.id, form)
        if who.link is not None:  # a hosted install link installs once
            links.use(conn, who.link, inst.id)
    try:
        for install_id in install_ids:
            lifecycle.activate(services, install_id, reason="installed")
    except Exception:
        _undo(services, inst.id, install_ids, [p[-1] for p in plans])
        raise
    return {"message": "Installation completed", "workflowIds": list(inst.workflow_ids)}


def _override(given: dict[str, Any] | None, previous: Any) -> dict[str, Any] | None:
    """The copy's output override: the one given, else the copy's own (a reinstall without
    one, such as an edit, keeps it); an empty one given clears it."""
    if given is None:
        return previous.output_override if previous is not None else None
    return given or None


RESTORED = (
    "installation_id", "version_id", "config", "credential_ids", "trigger_key", "output_override",
)  # fmt: skip


def _undo(
    services: Services, installation_id: str, install_ids: list[str], before: list[Any]
) -> None:
    for install_id, previous in zip(install_ids, before, strict=True):
        lifecycle.deactivate(services, install_id)
        with services.engine.begin() as conn:
            if previous is None:
                installs.delete_install(conn, install_id)
            else:
                old = {k: getattr(previous, k) for k in RESTORED}
                installs.set_install(conn, install_id, **old)
        if previous is not None and previous.active:
            try:
                lifecycle.activate(services, install_id)
            except SolderError:
                log.warning("could not switch the user's earlier copy back on", exc_info=True)
    with services.engine.begin() as conn:
        installs.reopen_installation(conn, installation_id)


def _installation_view(conn: Any, row: Any) -> dict[str, Any]:
    copies = [
        i for i in installs.installs_of_user(conn, row.user_id) if i.installation_id == row.id
    ]
    return {
        "installationId": row.id,
        "integrationId": row.integration_id,
        "userId": row.user_id,
        "formData": row.form_data,
        "credentialIds": row.credential_ids,
        "workflowIds": row.workflow_ids,
        "status": row.status,
        "installedAt": iso(row.installed_at),
        "enabled": any(c.active for c in copies),
    }


@router.get("/installations")
def list_installations(
    who: AnyCaller, services: ServicesDep, user_id: str | None = Query(None, alias="userId")
) -> dict[str, Any]:
    with services.reader.connect() as conn:
        uid = None
        if user_id or who.user_id:
            uid = users.get(conn, who.env, user_id or who.user_id or "").id
            who.own_user(uid)
        rows = installs.list_installations(conn, who.env, uid)
        return {"data": [_installation_view(conn, r) for r in rows]}


@router.get("/installations/{installation_id}")
def get_installation(installation_id: str, who: AnyCaller, services: ServicesDep) -> dict[str, Any]:
    with services.reader.connect() as conn:
        row = installs.get_installation(conn, who.env, installation_id)
        who.own_user(row.user_id)
        return {"data": _installation_view(conn, row)}
