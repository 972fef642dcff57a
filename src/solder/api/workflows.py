"""/integrations and /workflows: what the ISV built, and each user's copy of it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from solder.api import install_manager
from solder.api.auth import AnyCaller, Caller, ServerCaller, ServicesDep, UserQuery, scoped_user
from solder.api.schemas import WorkflowRef
from solder.api.views import integration_view, workflow_view
from solder.engine import lifecycle
from solder.errors import BadInput
from solder.runtime.services import Services
from solder.store import catalog, installs, users
from solder.store.types import iso

router = APIRouter(tags=["integrations and workflows"])


@router.get("/integrations")
def list_integrations(
    who: AnyCaller, services: ServicesDep, user_id: UserQuery = None
) -> dict[str, Any]:
    with services.reader.connect() as conn:
        uid = scoped_user(conn, who, user_id)
        rows = catalog.list_integrations(conn, who.env)
        return {"data": [integration_view(conn, r, uid, services) for r in rows]}


@router.get("/integrations/{integration_id}")
def get_integration(
    integration_id: str,
    who: AnyCaller,
    services: ServicesDep,
    user_id: UserQuery = None,
) -> dict[str, Any]:
    with services.reader.connect() as conn:
        uid = scoped_user(conn, who, user_id)
        row = catalog.get_integration(conn, who.env, integration_id)
        return {"data": integration_view(conn, row, uid, services)}


@router.get("/workflows")
def list_workflows(
    who: AnyCaller, services: ServicesDep, user_id: UserQuery = None
) -> dict[str, Any]:
    with services.reader.connect() as conn:
        uid = scoped_user(conn, who, user_id)
        rows = catalog.list_workflows(conn, who.env)
        return {"data": [workflow_view(conn, r, uid, services) for r in rows]}


@router.get("/workflows/{workflow_id}")
def get_workflow(
    workflow_id: str,
    who: AnyCaller,
    services: ServicesDep,
    user_id: UserQuery = None,
) -> dict[str, Any]:
    with services.reader.connect() as conn:
        uid = scoped_user(conn, who, user_id)
        row = catalog.get_workflow(conn, who.env, workflow_id)
        return {"data": workflow_view(conn, row, uid, services)}


@router.get("/workflows/{workflow_id}/versions")
def workflow_versions(
    workflow_id: str,
    who: AnyCaller,
    services: ServicesDep,
    user_id: UserQuery = None,
) -> dict[str, Any]:
    with services.reader.connect() as conn:
        uid = scoped_user(conn, who, user_id)
        wf = catalog.get_workflow(conn, who.env, workflow_id)
        versions = catalog.versions(conn, wf.id)
        install = installs.find_install(conn, uid, wf.id) if uid else None
    data = []
    if not versions or versions[0].hash != wf.draft_hash:
        data.append(
            {
                "versionId": None,
                "versionName": "draft",
                "lastModified": iso(wf.updated_at),
                "status": "draft",
                "note": None,
            }
        )
    for v in versions:
        item = {
            "versionId": v.id,
            "versionName": f"v{v.number}",
            "version": v.number,
            "lastModified": iso(v.released_at),
            "status": "released",
            "note": v.note,
        }
        if install is not None:
            item["installed"] = install.version_id == v.id
        data.append(item)
    return {"data": data}


@router.get("/workflows/{workflow_id}/users")
def workflow_users(workflow_id: str, who: ServerCaller, services: ServicesDep) -> dict[str, Any]:
    with services.reader.connect() as conn:
        wf = catalog.get_workflow(conn, who.env, workflow_id)
        data = []
        for inst in installs.installs_of_workflow(conn, wf.id):
            user = users.get(conn, who.env, inst.user_id)
            data.append(
                {
                    **users.public(user),
                    "workflowActive": bool(inst.active),
                    "installedVersion": catalog.version(conn, inst.version_id).number,
                    "installedAt": iso(inst.installed_at),
                }
            )
    return {"data": data}


def _install_for(services: Services, who: Caller, body: WorkflowRef) -> Any:
    ref = body.workflow_id or body.workflow_name
    if not ref:
        raise BadInput("workflowId: required (or workflowName)", field="workflowId")
    with services.reader.connect() as conn:
        user = users.get(conn, who.env, body.user_id)
        who.own_user(user.id)
        wf = catalog.get_workflow(conn, who.env, ref)
        return installs.get_install(conn, user.id, wf.id)


@router.put("/workflows/activate")
def activate(body: WorkflowRef, who: AnyCaller, services: ServicesDep) -> dict[str, bool]:
    install = _install_for(services, who, body)
    lifecycle.activate(services, install.id)
    return {"activated": True}


@router.put("/workflows/deactivate")
def deactivate(body: WorkflowRef, who: AnyCaller, services: ServicesDep) -> dict[str, bool]:
    install = _install_for(services, who, body)
    lifecycle.deactivate(services, install.id)
    return {"activated": False}


@router.put("/workflows/{workflow_id}/upgrade")
def upgrade(
    workflow_id: str,
    who: ServerCaller,
    services: ServicesDep,
    user_id: str = Query(alias="userId", min_length=1),
) -> dict[str, Any]:
    with services.reader.connect() as conn:
        user = users.get(conn, who.env, user_id)
        wf = catalog.get_workflow(conn, who.env, workflow_id)
        install = installs.get_install(conn, user.id, wf.id)
        latest = catalog.latest_version(conn, wf.id)
    if latest.id == install.version_id:
        return {"message": "already on the newest version", "version": latest.number}
    return install_manager.move_to(services, install, latest)


@router.delete("/workflows/{workflow_id}")
def uninstall(
    workflow_id: str,
    who: AnyCaller,
    services: ServicesDep,
    user_id: UserQuery = None,
) -> dict[str, bool]:
    with services.reader.connect() as conn:
        uid = scoped_user(conn, who, user_id)
        if uid is None:
            raise BadInput("userId: required", field="userId")
        wf = catalog.get_workflow(conn, who.env, workflow_id)
        install = installs.get_install(conn, uid, wf.id)
    lifecycle.deactivate(services, install.id)
    with services.engine.begin() as conn:
        installs.delete_install(conn, install.id)
    return {"deleted": True}
