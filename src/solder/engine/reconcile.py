"""Keeping app webhooks true to the installations: renewed, re-made, orphans removed.

Apps drop or switch off hooks (BigCommerce deactivates one whose deliveries keep failing),
and a crash between "hook made at the app" and "state stored" can leave a hook nobody owns.
Every ``engine.reconcile_every`` seconds the background loop, for each active installed copy
of an app-webhook workflow, asks the app about its hook: a missing one is made again (with a
new secret), an inactive one is switched back on. Then, per account (credential) it visited,
it lists the account's hooks and deletes those pointing at this server's ``/hooks/<app>/``
that no active copy owns. Every step is idempotent, so several processes may run it at once.
"""

from __future__ import annotations

import logging
from typing import Any

from solder.apps.base import App, WebhookTrigger
from solder.engine.lifecycle import credential_for, definition, subscribe
from solder.errors import SolderError
from solder.runtime.services import Services
from solder.store import installs

log = logging.getLogger("solder.reconcile")


def reconcile(services: Services) -> dict[str, int]:
    """One pass over every app; returns counts of what it did."""
    done = {"checked": 0, "remade": 0, "reactivated": 0, "orphans": 0, "errors": 0}
    for app in list(services.apps.values()):  # a snapshot: the registry may grow meanwhile
        if any(isinstance(t, WebhookTrigger) and t.status for t in app.triggers.values()):
            _reconcile_app(services, app, done)
    return done


def _reconcile_app(services: Services, app: App, done: dict[str, int]) -> None:
    with services.reader.connect() as conn:
        copies = installs.subscribed_installs(conn, app.key)
    # hook ids owned by any active copy: two users may connect the same account, so a hook is
    # only an orphan when no copy at all owns it (ids of different accounts may coincide,
    # which can only spare an orphan, never drop a live hook)
    owned: set[str] = set()
    contexts: dict[str, Any] = {}  # credential id -> a copy that reaches that account
    for install in copies:
        trigger = app.triggers.get(install.trigger_key.split(":", 2)[2])
        if not isinstance(trigger, WebhookTrigger) or trigger.status is None:
            continue
        try:
            state = _check_one(services, app, trigger, install, done)
        except SolderError as exc:
            done["errors"] += 1
            log.warning("reconcile %s: installed copy %s: %s", app.key, install.id, exc.message)
            continue
        owned.add(str(state.get("hookId")))
        credential_id = next(iter(install.credential_ids or []), None)
        if credential_id is not None:
            contexts.setdefault(credential_id, install)
    for install in contexts.values():
        trigger = next(t for t in app.triggers.values() if isinstance(t, WebhookTrigger))
        try:
            _drop_orphans(services, app, trigger, install, owned, done)
        except SolderError as exc:
            done["errors"] += 1
            log.warning("reconcile %s: listing hooks failed: %s", app.key, exc.message)


def _check_one(
    services: Services, app: App, trigger: WebhookTrigger, install: Any, done: dict[str, int]
) -> dict[str, Any]:
    assert trigger.status is not None
    ctx = services.app_context(app, credential_for(services, install, app.key))
    state: dict[str, Any] = dict(install.state or {})
    done["checked"] += 1
    status = trigger.status(ctx, state)
    if status == "inactive" and trigger.reactivate is not None:
        trigger.reactivate(ctx, state)
        done["reactivated"] += 1
        log.info("reconcile %s: switched hook %s back on", app.key, state.get("hookId"))
    elif status == "missing":
        state = subscribe(services, install, definition(services, install.version_id))
        with services.engine.begin() as conn:
            installs.set_install(conn, install.id, state=state)
        done["remade"] += 1
        log.info("reconcile %s: made the missing hook of %s again", app.key, install.id)
    return state


def _drop_orphans(
    services: Services,
    app: App,
    trigger: WebhookTrigger,
    install: Any,
    owned: set[str],
    done: dict[str, int],
) -> None:
    if trigger.hooks is None or trigger.drop is None:
        return
    ctx = services.app_context(app, credential_for(services, install, app.key))
    ours = f"{services.public_url}/hooks/{app.key}/"
    for hook_id, destination in trigger.hooks(ctx):
        if destination.startswith(ours) and hook_id not in owned:
            trigger.drop(ctx, hook_id)
            done["orphans"] += 1
            log.info("reconcile %s: deleted orphaned hook %s (%s)", app.key, hook_id,
                     destination)  # fmt: skip
