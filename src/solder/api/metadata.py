"""/metadata: the apps this server has and the fields their credentials ask for.

Read straight from ``services.apps``; nothing here touches the store. Properties describe
fields only: they never carry a value, secret or not.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from solder.api.auth import AnyCaller, ServicesDep, UserQuery, scoped_user
from solder.api.views import icon_url
from solder.apps import oauth
from solder.apps.base import Action, App, PollingTrigger
from solder.errors import BadInput, NotFound
from solder.store import installs

router = APIRouter(tags=["metadata"])


def _action_view(action: Action) -> dict[str, Any]:
    output = action.output_model.model_json_schema() if action.output_model else None
    return {
        "key": action.key,
        "name": action.name,
        "description": action.description,
        "idempotent": action.idempotent,
        "inputSchema": action.input_model.model_json_schema(by_alias=True),
        "outputSchema": output,
        "sample": action.sample,
    }


def app_view(app: App, base_url: str) -> dict[str, Any]:
    return {
        "app": app.key,
        "name": app.name,
        "version": app.version,
        "description": app.description,
        "categories": list(app.categories),
        "icon": icon_url(app.icon, base_url),
        "auth": getattr(app.auth, "kind", "api_key"),
        "triggers": [
            {
                "key": t.key,
                "name": t.name,
                "delivery": "polling" if isinstance(t, PollingTrigger) else "webhook",
            }
            for t in app.triggers.values()
        ],
        "actions": [_action_view(a) for a in app.actions.values()],
        "options": sorted(app.options),
    }


def credential_view(app: App, base_url: str) -> dict[str, Any]:
    """``secret`` and ``required`` (Solder's additions) tell a form to mask the field as it is
    typed, and whether it may be left empty."""
    return {
        "connector": app.key,
        "icon": icon_url(app.icon, base_url),
        "isOauth": app.is_oauth,
        "properties": [
            {
                "name": f.name,
                "displayName": f.display_name,
                "description": f.description,
                "secret": f.secret,
                "required": f.required,
            }
            for f in app.credential_fields
        ],
    }


@router.get("/metadata/apps")
def list_apps(_: AnyCaller, services: ServicesDep) -> dict[str, Any]:
    return {"data": [app_view(a, services.public_url) for a in list(services.apps.values())]}


@router.get("/metadata/credentials")
def list_credentials(_: AnyCaller, services: ServicesDep) -> dict[str, Any]:
    return {"data": [credential_view(a, services.public_url) for a in list(services.apps.values())]}


@router.get("/metadata/credentials/{app}")
def app_credentials(app: str, _: AnyCaller, services: ServicesDep) -> dict[str, Any]:
    found = services.apps.get(app.lower())
    if found is None:
        raise NotFound(f"app: no app {app!r}", field="app")
    return {"data": [credential_view(found, services.public_url)]}


@router.get("/metadata/apps/{app}/options/{name}")
def dropdown_options(
    app: str,
    name: str,
    who: AnyCaller,
    services: ServicesDep,
    credential_id: Annotated[str, Query(alias="credentialId")],
    user_ref: UserQuery = None,
) -> dict[str, Any]:
    """The entries of the dropdown ``name``, loaded from the app with the user's credential.

    ``credentialId`` must be one of the user's credentials for this app: a user token's own,
    or, with an API key, one of ``userId``'s. Entries are ``{value, label}``.
    """
    found = services.apps.get(app.lower())
    if found is None:
        raise NotFound(f"app: no app {app!r}", field="app")
    loader = found.options.get(name)
    if loader is None:
        raise NotFound(f"name: {found.key} has no dropdown {name!r}", field="name")
    with services.engine.connect() as conn:
        user_id = scoped_user(conn, who, user_ref)
        if user_id is None:
            raise BadInput("userId: required with an API key", field="userId")
        row = installs.get_credential(conn, who.env, user_id, credential_id)
    if row.app != found.key:
        raise BadInput(
            f"credentialId: {credential_id!r} is a {row.app} credential, not {found.key}",
            field="credentialId",
        )
    ctx = services.app_context(found, oauth.usable(services, found, row))
    return {"data": [{"value": o.value, "label": o.label} for o in loader(ctx)]}
