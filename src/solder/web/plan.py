"""What the install modal must do for one user, worked out before the page is sent.

The page gets one JSON plan: the apps to connect (with the credential the user already has for
each), the answers an existing copy already holds (``edit``/``update`` start from them), and how
the page talks to the frame that opened it. The page's script then walks the steps with the
user's token through the headless API; nothing here writes to the store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection

from solder.api.metadata import credential_view
from solder.engine import output
from solder.engine.definitions import released
from solder.errors import BadInput, NotFound
from solder.runtime.services import Services
from solder.security.tokens import UserClaims
from solder.store import catalog, installs, users

OPERATIONS = ("install", "edit", "update")


@dataclass
class Request:
    """The modal's query parameters, checked (the names are Alloy's)."""

    token: str
    integration_id: str | None = None
    workflow_ids: list[str] = field(default_factory=list)
    pre_filled: dict[str, Any] = field(default_factory=dict)
    hide: bool = False
    always_show_auth: bool = False
    operation: str = "install"
    title: str | None = None
    version_ids: list[str] = field(default_factory=list)
    output_override: str | None = None  # the JSON text; checked by engine.output
    app: str | None = None  # /authenticate-app
    category: str | None = None  # /authenticate-app: the user picks an app of it


def parse_json_object(raw: str | None, name: str) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise BadInput(f"{name}: not valid JSON", field=name) from exc
    if not isinstance(value, dict):
        raise BadInput(f"{name}: must be a JSON object", field=name)
    return value


def flag(raw: str | None) -> bool:
    return (raw or "").lower() in ("1", "true", "yes")


def parent_origin(given: str | None, referer: str | None) -> str | None:
    """The origin of the page that framed the modal: the SDK's ``origin`` parameter, or the
    ``Referer`` the browser sent. Messages are posted to it by name, never to ``*``."""
    for candidate in (given, referer):
        if not candidate:
            continue
        parts = urlsplit(candidate)
        if parts.scheme in ("http", "https") and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    return None


def _apps_view(
    conn: Connection, services: Services, claims: UserClaims, keys: list[str]
) -> list[dict[str, Any]]:
    have: dict[str, str] = {}
    for row in installs.list_credentials(conn, claims.environment, claims.user_id):
        have[row.app] = row.id  # the newest of each app wins (rows come oldest first)
    out = []
    for key in keys:
        app = services.apps.get(key)
        if app is None:
            raise NotFound(f"app: this server has no app {key!r}", field="app")
        view = credential_view(app, services.public_url)
        out.append({**view, "app": app.key, "name": app.name, "credentialId": have.get(key)})
    return out


def _category(services: Services, category: str | None) -> list[str]:
    """The keys of this server's apps in ``category``, by name; refused, listing the
    categories there are, when none is."""
    wanted = (category or "").strip().lower()
    keys = sorted(
        (a.key for a in services.apps.values() if wanted in a.categories),
        key=lambda k: services.apps[k].name.lower(),
    )
    if not keys:
        known = sorted({c for a in services.apps.values() for c in a.categories})
        raise NotFound(
            f"category: this server has no app in the category {category!r}; the categories "
            f"are {', '.join(known)}",
            field="category",
        )
    return keys


def build(conn: Connection, services: Services, claims: UserClaims, req: Request) -> dict[str, Any]:
    """The plan for ``/forge-install`` or ``/authenticate-app`` (``req.app`` set)."""
    user = users.get(conn, claims.environment, claims.user_id)
    env = claims.environment
    if req.operation not in OPERATIONS:
        raise BadInput(f"operation: one of {', '.join(OPERATIONS)}", field="operation")
    if req.app is not None or req.category is not None:
        keys = [req.app.lower()] if req.app is not None else _category(services, req.category)
        return {"mode": "authenticate", "userId": user.id, "category": req.category,
                "apps": _apps_view(conn, services, claims, keys)}  # fmt: skip
    if req.workflow_ids:
        flows = [catalog.get_workflow(conn, env, ref, field="id") for ref in req.workflow_ids]
        owners = {wf.integration_id for wf in flows}
        if len(owners) != 1:
            raise BadInput("id: the workflows belong to different integrations", field="id")
        integration = catalog.get_integration(conn, env, owners.pop())
    elif req.integration_id:
        integration = catalog.get_integration(conn, env, req.integration_id)
        flows = list(catalog.list_workflows(conn, env, integration.id))
    else:
        raise BadInput("integrationId: required (or id=<workflowId>)", field="integrationId")
    asked = catalog.pick_versions(
        conn, flows, req.version_ids, positional=bool(req.workflow_ids), field="versionId"
    )
    apps: list[str] = []
    chosen: list[str] = []
    answers: dict[str, dict[str, Any]] = {}
    streams = False
    for wf in flows:
        latest = asked.get(wf.id) or catalog.latest_version(conn, wf.id)
        if latest is None:
            continue  # never released: not installable
        chosen.append(wf.id)
        definition = released(latest.id, latest.definition)
        streams = streams or any(b.type == "streamData" for b in definition.all_blocks())
        for key in definition.apps():
            if key not in apps:
                apps.append(key)
        copy = installs.find_install(conn, user.id, wf.id)
        if copy is not None:
            for block_id, values in (copy.config or {}).items():
                answers.setdefault(block_id, {}).update(values)
    if not chosen:
        raise BadInput("integrationId: this integration has no released workflow")
    override = output.check_with(services, req.output_override, streams=streams)
    app = services.apps.get(integration.app)
    return {
        "mode": "install",
        "userId": user.id,
        "integrationId": integration.id,
        "integrationName": integration.name or (app.name if app else integration.app),
        "workflowIds": chosen,
        # one per chosen workflow, in order ("" for the newest), as /headless/startInstallation
        # takes them; null when no version was asked for
        "versionIds": [asked[w].id if w in asked else "" for w in chosen] if asked else None,
        "outputOverride": override,
        "apps": _apps_view(conn, services, claims, apps),
        "answers": answers,
    }
