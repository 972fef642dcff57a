"""/metadata: the apps this server has and the fields their credentials ask for.

Read straight from ``services.apps``; nothing here touches the store. Properties describe
fields only: they never carry a value, secret or not.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from solder.api.auth import AnyCaller, ServicesDep
from solder.api.views import icon_url
from solder.apps.base import App, PollingTrigger
from solder.errors import NotFound

router = APIRouter(tags=["metadata"])


def app_view(app: App, base_url: str) -> dict[str, Any]:
    return {
        "app": app.key,
        "name": app.name,
        "icon": icon_url(app.icon, base_url),
        "triggers": [
            {
                "key": t.key,
                "name": t.name,
                "delivery": "polling" if isinstance(t, PollingTrigger) else "webhook",
            }
            for t in app.triggers.values()
        ],
        "actions": [{"key": a.key, "name": a.name} for a in app.actions.values()],
    }


def credential_view(app: App, base_url: str) -> dict[str, Any]:
    """``secret`` (Solder's addition) tells a form to mask the field as it is typed."""
    return {
        "connector": app.key,
        "icon": icon_url(app.icon, base_url),
        "isOauth": False,
        "properties": [
            {
                "name": f.name,
                "displayName": f.display_name,
                "description": f.description,
                "secret": f.secret,
            }
            for f in app.credential_fields
        ],
    }


@router.get("/metadata/apps")
def list_apps(_: AnyCaller, services: ServicesDep) -> dict[str, Any]:
    return {"data": [app_view(a, services.public_url) for a in services.apps.values()]}


@router.get("/metadata/credentials")
def list_credentials(_: AnyCaller, services: ServicesDep) -> dict[str, Any]:
    return {"data": [credential_view(a, services.public_url) for a in services.apps.values()]}


@router.get("/metadata/credentials/{app}")
def app_credentials(app: str, _: AnyCaller, services: ServicesDep) -> dict[str, Any]:
    found = services.apps.get(app.lower())
    if found is None:
        raise NotFound(f"app: no app {app!r}", field="app")
    return {"data": [credential_view(found, services.public_url)]}
