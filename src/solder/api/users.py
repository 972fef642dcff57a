"""/users: end users, their tokens, credentials and the GDPR purge."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from solder.api.auth import AnyCaller, ServerCaller, ServicesDep
from solder.api.schemas import NewUser, UserBatch, UserChanges
from solder.engine import lifecycle
from solder.security.tokens import LinkClaims, mint_link_token, mint_user_token
from solder.store import catalog, installs, links, runs, users
from solder.store.types import iso

router = APIRouter(tags=["users"])


@router.post("/users")
def create_user(body: NewUser, who: ServerCaller, services: ServicesDep) -> dict[str, str]:
    with services.engine.begin() as conn:
        return {"userId": users.create(conn, who.env, body.username, body.full_name)}


@router.post("/users/batch")
def create_users(body: UserBatch, who: ServerCaller, services: ServicesDep) -> dict[str, Any]:
    with services.engine.begin() as conn:
        ids = users.create_many(conn, who.env, [(u.username, u.full_name) for u in body.users])
    return {"message": f"{len(ids)} users created", "userIds": ids}


@router.get("/users")
def list_users(
    who: ServerCaller,
    services: ServicesDep,
    parent_workflow_id: str | None = Query(default=None, alias="parentWorkflowId"),
    page: int | None = Query(default=None, ge=1, le=1_000_000),
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    with services.reader.connect() as conn:
        if parent_workflow_id:
            wf = catalog.get_workflow(conn, who.env, parent_workflow_id, field="parentWorkflowId")
            ids = {i.user_id for i in installs.installs_of_workflow(conn, wf.id)}
            rows = [u for u in users.list_(conn, who.env) if u.id in ids]
            total = len(rows)
            if page is not None:
                rows = rows[(page - 1) * limit : page * limit]
        else:
            offset = 0 if page is None else (page - 1) * limit
            rows = users.list_(conn, who.env, offset=offset, limit=None if page is None else limit)
            total = users.count(conn, who.env) if page is not None else len(rows)
    out: dict[str, Any] = {"data": [users.public(r) for r in rows]}
    if page is not None:
        out |= {
            "totalItems": total,
            "totalPages": -(-total // limit),
            "currentPage": page,
            "pageSize": limit,
        }
    return out


@router.get("/users/{user_id}")
def get_user(user_id: str, who: AnyCaller, services: ServicesDep) -> dict[str, Any]:
    with services.reader.connect() as conn:
        row = users.get(conn, who.env, user_id)
    who.own_user(row.id)
    return users.public(row)


@router.put("/users/{user_id}")
def update_user(
    user_id: str, body: UserChanges, who: ServerCaller, services: ServicesDep
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("username") is None:
        changes.pop("username", None)
    with services.engine.begin() as conn:
        return users.public(users.update_(conn, who.env, user_id, changes))


@router.delete("/users/{user_id}")
def delete_user(user_id: str, who: ServerCaller, services: ServicesDep) -> dict[str, bool]:
    with services.reader.connect() as conn:
        row = users.get(conn, who.env, user_id)
        owned = installs.installs_of_user(conn, row.id)
    for install in owned:
        lifecycle.deactivate(services, install.id)
    with services.engine.begin() as conn:
        users.delete_(conn, who.env, row.id)
    return {"success": True}


@router.delete("/users/{user_id}/logs")
def purge_logs(user_id: str, who: ServerCaller, services: ServicesDep) -> dict[str, str]:
    with services.engine.begin() as conn:
        row = users.get(conn, who.env, user_id)
        runs.purge_user(conn, row.id)
    return {"message": "Success"}


@router.get("/users/{user_id}/token")
@router.get("/user/{user_id}/token", include_in_schema=False)
def user_token(user_id: str, who: ServerCaller, services: ServicesDep) -> dict[str, str]:
    with services.reader.connect() as conn:
        row = users.get(conn, who.env, user_id)
    return {"token": mint_user_token(services.token_secret, row.id, who.env)}


@router.put("/users/{user_id}/deactivate-workflows")
def deactivate_all(user_id: str, who: ServerCaller, services: ServicesDep) -> dict[str, str]:
    with services.reader.connect() as conn:
        row = users.get(conn, who.env, user_id)
        owned = [i for i in installs.installs_of_user(conn, row.id) if i.active]
    for install in owned:
        lifecycle.deactivate(services, install.id)
    return {"message": f"{len(owned)} workflows deactivated"}


@router.get("/users/{user_id}/credentials")
def list_credentials(user_id: str, who: AnyCaller, services: ServicesDep) -> dict[str, Any]:
    with services.reader.connect() as conn:
        row = users.get(conn, who.env, user_id)
        who.own_user(row.id)
        creds = installs.list_credentials(conn, who.env, row.id)
    return {
        "data": [
            {
                "credentialId": c.id,
                "type": c.app,
                "name": c.name,
                "createdAt": iso(c.created_at),
                "updatedAt": iso(c.updated_at),
            }
            for c in creds
        ]
    }


@router.delete("/users/{user_id}/credentials/{credential_id}")
def delete_credential(
    user_id: str, credential_id: str, who: ServerCaller, services: ServicesDep
) -> dict[str, bool]:
    with services.engine.begin() as conn:
        row = users.get(conn, who.env, user_id)
        cred = installs.get_credential(conn, who.env, row.id, credential_id)
        installs.delete_credential(conn, cred.id)
    return {"success": True}


@router.get("/users/{user_id}/integrations/{integration_id}/install-url")
def install_url(
    user_id: str,
    integration_id: str,
    who: ServerCaller,
    services: ServicesDep,
    expires_in_days: Annotated[int | None, Query(alias="expiresInDays", ge=1, le=90)] = None,
) -> dict[str, str | None]:
    """A hosted page that installs the integration for the user, once; see ``api/links.py``."""
    days = expires_in_days or services.settings.install_link_days
    with services.engine.begin() as conn:
        row = users.get(conn, who.env, user_id)
        integration = catalog.get_integration(conn, who.env, integration_id)
        link_id, expires = links.create(conn, who.env, row.id, integration.id, timedelta(days=days))
    claims = LinkClaims(link_id, row.id, who.env, integration.id)
    token = mint_link_token(services.token_secret, claims, expires)
    return {
        "url": f"{services.public_url}/install/{integration.id}?token={token}",
        "expiresAt": iso(expires),
    }
