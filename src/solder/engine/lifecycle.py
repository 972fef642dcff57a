"""Turning a user's copy of a workflow on and off, with the trigger state that goes with it.

* An app-event trigger fed by webhooks is subscribed with the app when the installed workflow
  becomes active, and unsubscribed when it is deactivated, uninstalled or its user deleted.
* A schedule is armed at its next tick; a polling trigger is armed to poll now (its cursor
  is kept from any earlier copy). Deactivating disarms both.
* An "on installation" workflow gets a run when it is installed, and when it is upgraded.

Outbound calls happen outside database transactions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from solder.apps import oauth
from solder.apps.base import App, AppContext, PollingTrigger, Subscription, WebhookTrigger
from solder.engine import ratelimit, schedule
from solder.engine.definitions import (
    AppEventTrigger,
    InstallationTrigger,
    ScheduleTrigger,
    WorkflowDef,
    released,
)
from solder.errors import BadInput, RateLimited, ReconnectNeeded
from solder.runtime.services import Services
from solder.security.crypto import KeyRingError
from solder.store import catalog, installs, runs, triggers
from solder.store.tables import credentials
from solder.store.types import utcnow

log = logging.getLogger("solder.engine")


def credential_for(
    services: Services, install: Any, app: str, *, refresh: bool = False
) -> dict[str, Any]:
    """The installation's credential for ``app``, an OAuth2 token refreshed when about to
    expire, or at once with ``refresh`` (the app refused the token it had)."""
    with services.reader.connect() as conn:
        for cid in install.credential_ids or []:
            row = installs.get_credential(conn, install.environment, install.user_id, cid)
            if row.app == app:
                found = services.apps.get(app)
                wait_turn(services, found, row)
                if found is None:
                    return installs.credential_data(services.ring, row)
                if refresh and found.is_oauth:
                    return oauth.refresh(services, found, row)
                return oauth.usable(services, found, row)
    raise ReconnectNeeded(f"credentialIds: the user has no {app} credential on this installation")


def wait_turn(services: Services, app: App | None, row: Any) -> None:
    """Before a call with the credential ``row``: refuse it while the app's 429 pause lasts,
    then wait for the connection's turn under the app's declared rate (``ratelimit``).

    Raises ``RateLimited`` with the seconds to wait: a run waits in the queue, the
    passthrough endpoint answers 429 with ``Retry-After``."""
    paused = row.paused_until
    if paused is not None and paused > utcnow():
        raise RateLimited(
            f"{row.app}: the app asked not to be called before {paused.isoformat()}",
            retry_after=(paused - utcnow()).total_seconds(),
        )
    if app is not None:
        ratelimit.take_turn(services, app, row.id)


def pause_credential_id(services: Services, credential_id: str, seconds: float) -> None:
    """No call uses this credential for ``seconds`` (a longer pause already set stays)."""
    until = utcnow() + timedelta(seconds=seconds)
    with services.engine.begin() as conn:
        conn.execute(
            update(credentials)
            .where(credentials.c.id == credential_id)
            .where((credentials.c.paused_until.is_(None)) | (credentials.c.paused_until < until))
            .values(paused_until=until)
        )


def pause_credential(services: Services, install: Any, app: str, seconds: float) -> None:
    """After a 429: no run calls ``app`` with this installation's credential for ``seconds``
    (every worker reads the pause from the credential's row; other connections go on)."""
    with services.reader.connect() as conn:
        rows = [
            installs.get_credential(conn, install.environment, install.user_id, cid)
            for cid in install.credential_ids or []
        ]
    for row in rows:
        if row.app == app:
            pause_credential_id(services, row.id, seconds)


def definition(services: Services, version_id: str) -> WorkflowDef:
    with services.reader.connect() as conn:
        row = catalog.version(conn, version_id)
    return released(row.id, row.definition)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def webhook_token(services: Services, install_id: str) -> str:
    """The secret part of an installed copy's incoming-webhook URL.

    Derived from the server key and the copy's id, so nothing is stored and it stays the same
    across deactivation; rotating the server key changes every URL.
    """
    key = services.ring.derive("incoming-webhook-url")
    digest = hmac.new(key, install_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def webhook_url(services: Services, install_id: str) -> str:
    return f"{services.public_url}/webhooks/{install_id}/{webhook_token(services, install_id)}"


def seal(services: Services, install_id: str, state: dict[str, Any]) -> dict[str, Any]:
    """``state`` with its ``sealed`` mapping (secrets an app gave at subscription, such as a
    signing secret) encrypted under the key ring, bound to the installed copy."""
    if not isinstance(state.get("sealed"), dict):
        return state
    kid, blob = services.ring.encrypt_json(state["sealed"], installs.hook_state_aad(install_id))
    return {**state, "sealed": {"kid": kid, "blob": base64.b64encode(blob).decode()}}


def unsealed(services: Services, install_id: str, state: dict[str, Any]) -> dict[str, Any]:
    """``state`` with its ``sealed`` mapping opened (what a trigger's ``verify`` is given)."""
    sealed = state.get("sealed")
    if not isinstance(sealed, dict) or "blob" not in sealed:
        return state
    raw = base64.b64decode(sealed["blob"])
    opened = services.ring.decrypt_json(sealed["kid"], raw, installs.hook_state_aad(install_id))
    return {**state, "sealed": opened}


def subscribe(services: Services, install: Any, wf: WorkflowDef) -> dict[str, Any]:
    """Register the trigger with its app, if it needs that; return the state to keep."""
    trigger = wf.trigger
    if not isinstance(trigger, AppEventTrigger):
        return {}
    app = services.apps[trigger.app]
    hook = app.triggers[trigger.event]
    if not isinstance(hook, WebhookTrigger):
        return {}
    ctx = services.app_context(app, credential_for(services, install, app.key))
    destination = f"{services.public_url}/hooks/{app.key}/{install.id}"
    return register(services, hook, ctx, install.id, destination)


def register(
    services: Services, hook: WebhookTrigger, ctx: AppContext, install_id: str, destination: str
) -> dict[str, Any]:
    """Subscribe ``destination`` with the app under a new secret; the state to keep, sealed."""
    secret = secrets.token_urlsafe(32)
    state = hook.subscribe(ctx, Subscription(install_id, destination, secret))
    return {**seal(services, install_id, state), "secretHash": secret_hash(secret)}


def authentic(
    services: Services,
    hook: WebhookTrigger,
    headers: Mapping[str, str],
    raw: bytes,
    install_id: str,
    state: dict[str, Any],
) -> bool:
    """Whether a callback came from the app: the app's own check when it has one (a signature
    over the raw body, given the state with its sealed secrets opened), else the secret header
    given at subscription, compared by hash. ``headers`` have lower-case names."""
    if hook.verify is not None:
        try:
            opened = unsealed(services, install_id, state)
        except KeyRingError as exc:  # sealed under a key no longer in the ring
            log.warning("hook state of %s cannot be opened: %s", install_id, exc.message)
            return False
        return bool(state) and hook.verify(headers, raw, opened)
    expected = state.get("secretHash", "")
    given = headers.get(hook.secret_header.lower(), "")
    return bool(expected) and hmac.compare_digest(expected, secret_hash(given))


def unsubscribe(services: Services, install: Any) -> None:
    state = install.state or {}
    if not state:
        return
    wf = definition(services, install.version_id)
    trigger = wf.trigger
    if not isinstance(trigger, AppEventTrigger):
        return
    app = services.apps[trigger.app]
    hook = app.triggers[trigger.event]
    if not isinstance(hook, WebhookTrigger):
        return
    try:
        credential = credential_for(services, install, app.key)
    except (ReconnectNeeded, BadInput):
        return  # nothing we can reach the app with; the hook dies with the credential
    hook.unsubscribe(services.app_context(app, credential), state)


def activate(services: Services, install_id: str, reason: str | None = None) -> None:
    """Switch an installed copy on; ``reason`` ("installed", "upgraded") fires "on installation"."""
    with services.reader.connect() as conn:
        install = installs.install_by_id(conn, install_id)
    if install.active:
        return
    wf = definition(services, install.version_id)
    state = subscribe(services, install, wf)
    with services.engine.begin() as conn:
        installs.set_install(conn, install_id, active=True, state=state)
        created = arm(services, conn, install, wf, reason)
    services.dispatch.ready(created)


def arm(
    services: Services, conn: Any, install: Any, wf: WorkflowDef, reason: str | None
) -> list[str]:
    """The trigger state of an installed copy that just became active, in its transaction.

    Returns the ids of the runs it queued (an "on installation" run), to dispatch once the
    transaction is committed.
    """
    trigger = wf.trigger
    where = {
        "env": install.environment,
        "user_id": install.user_id,
        "workflow_id": install.workflow_id,
        "workflow_install_id": install.id,
    }
    if isinstance(trigger, ScheduleTrigger):
        tick = schedule.parse(trigger.cron, trigger.timezone).next_after(utcnow())
        triggers.arm(conn, kind="schedule", next_at=tick, **where)
    elif isinstance(trigger, AppEventTrigger):
        hook = services.apps[trigger.app].triggers[trigger.event]
        if isinstance(hook, PollingTrigger):
            triggers.arm(conn, kind="poll", next_at=utcnow(), **where)
    elif isinstance(trigger, InstallationTrigger) and reason is not None:
        version = catalog.version(conn, install.version_id)
        _, created, _ = runs.add_event(
            conn,
            env=install.environment,
            kind="installation",
            name=wf.key,
            payload={"reason": reason, "version": version.number},
            user_id=install.user_id,
            install_ids=[(install.id, install.workflow_id, install.user_id, install.version_id)],
            workflow_install_id=install.id,
        )
        return created
    return []


def deactivate(services: Services, install_id: str) -> None:
    with services.reader.connect() as conn:
        install = installs.install_by_id(conn, install_id)
    if install is None:
        return
    unsubscribe(services, install)
    with services.engine.begin() as conn:
        installs.set_install(conn, install_id, active=False, state={})
        triggers.disarm(conn, install_id)
