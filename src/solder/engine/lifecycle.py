"""Turning a user's copy of a workflow on and off, with the app subscriptions that go with it.

An app-event trigger fed by webhooks is subscribed with the app when the installed workflow
becomes active, and unsubscribed when it is deactivated, uninstalled or its user deleted.
Outbound calls happen outside database transactions.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from solder.apps.base import Subscription
from solder.engine.definitions import AppEventTrigger, WorkflowDef, released
from solder.errors import BadInput, ReconnectNeeded
from solder.runtime.services import Services
from solder.store import catalog, installs


def credential_for(services: Services, install: Any, app: str) -> dict[str, Any]:
    with services.reader.connect() as conn:
        for cid in install.credential_ids or []:
            row = installs.get_credential(conn, install.environment, install.user_id, cid)
            if row.app == app:
                return installs.credential_data(services.ring, row)
    raise ReconnectNeeded(f"credentialIds: the user has no {app} credential on this installation")


def definition(services: Services, version_id: str) -> WorkflowDef:
    with services.reader.connect() as conn:
        row = catalog.version(conn, version_id)
    return released(row.id, row.definition)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def subscribe(services: Services, install: Any, wf: WorkflowDef) -> dict[str, Any]:
    """Register the trigger with its app, if it needs that; return the state to keep."""
    trigger = wf.trigger
    if not isinstance(trigger, AppEventTrigger):
        return {}
    app = services.apps[trigger.app]
    hook = app.triggers[trigger.event]
    ctx = services.app_context(app, credential_for(services, install, app.key))
    secret = secrets.token_urlsafe(32)
    destination = f"{services.public_url}/hooks/{app.key}/{install.id}"
    state = hook.subscribe(ctx, Subscription(install.id, destination, secret))
    return {**state, "secretHash": secret_hash(secret)}


def unsubscribe(services: Services, install: Any) -> None:
    state = install.state or {}
    if not state:
        return
    wf = definition(services, install.version_id)
    trigger = wf.trigger
    if not isinstance(trigger, AppEventTrigger):
        return
    app = services.apps[trigger.app]
    try:
        credential = credential_for(services, install, app.key)
    except (ReconnectNeeded, BadInput):
        return  # nothing we can reach the app with; the hook dies with the credential
    app.triggers[trigger.event].unsubscribe(services.app_context(app, credential), state)


def activate(services: Services, install_id: str) -> None:
    with services.reader.connect() as conn:
        install = installs.install_by_id(conn, install_id)
    if install.active:
        return
    state = subscribe(services, install, definition(services, install.version_id))
    with services.engine.begin() as conn:
        installs.set_install(conn, install_id, active=True, state=state)


def deactivate(services: Services, install_id: str) -> None:
    with services.reader.connect() as conn:
        install = installs.install_by_id(conn, install_id)
    if install is None:
        return
    unsubscribe(services, install)
    with services.engine.begin() as conn:
        installs.set_install(conn, install_id, active=False, state={})
