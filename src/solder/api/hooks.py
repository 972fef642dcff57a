"""Webhooks in: apps' callbacks and the installations' own incoming-webhook URLs.

``/hooks/{app}/{installId}`` is where apps deliver their webhooks. Each callback is checked
(the secret header given when the hook was made, or the app's own signature over the raw
body when its trigger has ``verify``), deduplicated by the app's event id, and
stored with its run before the answer goes back. Work on it (such as fetching the full order)
happens in the run, where it is retried.

``/webhooks/{installId}/{token}`` runs an installed "incoming webhook" workflow with the posted
JSON as its trigger output; the token (``lifecycle.webhook_token``) is the credential, and the
URL is shown as ``webhookUrl`` on the user's workflow. An ``Idempotency-Key`` header makes a
retried POST run once.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from solder.api.auth import services_of
from solder.apps.base import WebhookTrigger
from solder.engine.lifecycle import authentic, webhook_token
from solder.errors import Conflict, MalformedBody, NotFound, Unauthorized
from solder.runtime.services import Services
from solder.store import installs, runs

log = logging.getLogger("solder.hooks")
router = APIRouter(tags=["app webhooks"])


@router.post("/hooks/{app_key}/{install_id}")
async def receive(app_key: str, install_id: str, request: Request) -> dict[str, Any]:
    services = services_of(request)
    raw = await request.body()
    payload = _parsed(raw)
    headers = {k.lower(): v for k, v in request.headers.items()}
    return await run_in_threadpool(_store, services, app_key, install_id, payload, headers, raw)


@router.post("/webhooks/{install_id}/{token}")
async def incoming(install_id: str, token: str, request: Request) -> dict[str, Any]:
    services = services_of(request)
    if not hmac.compare_digest(token, webhook_token(services, install_id)):
        raise NotFound("no such webhook")
    payload = await _json_object(request)
    key = request.headers.get("idempotency-key")
    return await run_in_threadpool(_incoming, services, install_id, payload, key)


def _incoming(
    services: Services, install_id: str, payload: dict[str, Any], key: str | None
) -> dict[str, Any]:
    with services.engine.begin() as conn:
        install = installs.install_by_id(conn, install_id)
        if install is None or install.trigger_key != "webhook":
            raise NotFound("no such webhook")
        if not install.active:
            raise Conflict("this workflow is deactivated for the user")
        _, created, duplicate = runs.add_event(
            conn,
            env=install.environment,
            kind="webhook",
            name="incoming",
            payload=payload,
            user_id=install.user_id,
            workflow_install_id=install.id,
            install_ids=[(install.id, install.workflow_id, install.user_id, install.version_id)],
            dedupe_key=f"incoming:{install.id}:{key}" if key else None,
        )
    if created:
        services.metrics.accepted("webhook")
        services.dispatch.ready(created)
    return {"message": "success", "duplicate": duplicate}


async def _json_object(request: Request) -> dict[str, Any]:
    return _parsed(await request.body())


def _parsed(raw: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw, parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedBody("body: malformed JSON") from exc
    if not isinstance(payload, dict):
        raise MalformedBody("body: expected a JSON object")
    return payload


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's parser accepts NaN and Infinity


def _store(
    services: Services,
    app_key: str,
    install_id: str,
    payload: dict[str, Any],
    headers: dict[str, str],
    raw: bytes,
) -> dict[str, Any]:
    app = services.apps.get(app_key)
    with services.engine.begin() as conn:
        install = installs.install_by_id(conn, install_id)
        if app is None or install is None or not install.trigger_key.startswith(f"app:{app_key}:"):
            raise NotFound("no such webhook")
        event_key = install.trigger_key.split(":", 2)[2]
        trigger = app.triggers[event_key]
        if not isinstance(trigger, WebhookTrigger):
            raise NotFound("no such webhook")
        if not authentic(services, trigger, headers, raw, install.id, install.state or {}):
            raise Unauthorized(f"{trigger.secret_header}: missing or wrong")
        if not install.active or not trigger.matches(payload):
            return {"received": True, "ignored": True}
        event_id = trigger.event_id(payload)
        _, created, duplicate = runs.add_app_event(
            conn, install, app_key, event_key, payload, event_id
        )
    if created:
        services.metrics.accepted("app_webhook")
        services.dispatch.ready(created)
    return {"received": True, "duplicate": duplicate}
