"""Alloy-shaped views of stored rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from solder.apps.base import App
from solder.engine import lifecycle
from solder.engine.definitions import WorkflowDef, released
from solder.engine.kinds import KINDS
from solder.runtime.services import Services
from solder.store import catalog, installs
from solder.store.types import iso

DEFAULT_NAMES = {
    "customEvent": "Custom Event",
    "webhook": "Webhook",
    "streamData": "Stream Data",
}
BLOCK_ICON = "/static/icons/block.svg"
DEFAULT_ICONS = {
    "customEvent": "/static/icons/app-event.svg",
    "webhook": "/static/icons/webhook.svg",
    "streamData": "/static/icons/stream-data.svg",
}


def icon_url(icon: str, base_url: str) -> str:
    """Icons are served by this server; absolute URLs, like Alloy's, work from any page."""
    return f"{base_url}{icon}" if icon.startswith("/") else icon


def blocks_view(wf: WorkflowDef, apps: dict[str, App], base_url: str) -> list[dict[str, Any]]:
    out = []
    for block in wf.all_blocks():
        app = apps.get(getattr(block, "app", "") or "")
        kind = app.key if app else block.type
        kind_title = KINDS[block.type].title if block.type in KINDS else block.type
        default_name = app.name if app else DEFAULT_NAMES.get(block.type, kind_title)
        icon = app.icon if app else DEFAULT_ICONS.get(block.type, BLOCK_ICON)
        out.append(
            {
                "name": block.name or default_name,
                "id": block.id,
                "type": kind,
                "icon": icon_url(icon, base_url),
            }
        )
    return out


def workflow_view(
    conn: Connection, wf: Any, user_id: str | None, services: Services
) -> dict[str, Any]:
    apps, base_url = services.apps, services.public_url
    latest = catalog.latest_version(conn, wf.id)
    install = installs.find_install(conn, user_id, wf.id) if user_id else None
    shown = (
        released(latest.id, latest.definition) if latest else WorkflowDef.model_validate(wf.draft)
    )
    view: dict[str, Any] = {
        "workflowId": wf.id,
        "integrationId": wf.integration_id,
        "name": wf.name,
        "createdAt": iso(wf.created_at),
        "updatedAt": iso(wf.updated_at),
        "installed": install is not None,
        "active": bool(install is not None and install.active),
        "version": None if latest is None else latest.number,
        "blocks": blocks_view(shown, apps, base_url),
    }
    if install is not None:
        view["installedVersion"] = catalog.version(conn, install.version_id).number
        if install.trigger_key == "webhook":
            view["webhookUrl"] = lifecycle.webhook_url(services, install.id)
    return view


def integration_view(
    conn: Connection, row: Any, user_id: str | None, services: Services
) -> dict[str, Any]:
    apps, base_url = services.apps, services.public_url
    app = apps.get(row.app)
    flows = [
        workflow_view(conn, wf, user_id, services)
        for wf in catalog.list_workflows(conn, row.environment, row.id)
    ]
    released = [w for w in flows if w["version"] is not None]
    return {
        "integrationId": row.id,
        "app": row.name or (app.name if app else row.app),
        "installed": any(w["installed"] for w in released),
        "icon": icon_url(row.icon or (app.icon if app else ""), base_url),
        "workflows": released,
    }
