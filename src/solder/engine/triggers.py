"""Firing schedules and running polls, from any number of processes.

Each due row of ``trigger_states`` is taken by a compare-and-set on its ``next_at`` (see
``solder.store.triggers``), so one process fires each cron tick however many run this loop;
the tick's event also carries a dedupe key (``schedule:<install>:<tick>``), so even a tick
taken twice could not store two events.

A poll holds its row for ``POLL_LEASE`` while it calls the app (outside any transaction),
then stores the new records as events and the new cursor in one transaction. Each record's
event has the dedupe key ``poll:<user>:<workflow>:<record id>``: a poll repeated after a
crash, or a cursor that overlaps, runs the workflow once per record.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from solder.apps.base import PollingTrigger
from solder.engine import schedule
from solder.engine.definitions import AppEventTrigger, ScheduleTrigger, released
from solder.engine.lifecycle import credential_for
from solder.errors import ReconnectNeeded, SolderError
from solder.runtime.services import Services
from solder.store import catalog, installs, runs, triggers
from solder.store.types import iso, utcnow

log = logging.getLogger("solder.triggers")

POLL_LEASE = timedelta(minutes=5)
RETRY_POLL = timedelta(minutes=1)


def run_due(services: Services, now: datetime | None = None, limit: int = 100) -> int:
    """Fire every due schedule and run every due poll; return how many were taken."""
    now = now or utcnow()
    with services.reader.connect() as conn:
        due = triggers.due(conn, now, limit)
    taken = 0
    for row in due:
        if row.kind == "schedule":
            taken += fire_schedule(services, row, now)
        elif row.kind == "poll":
            taken += run_poll(services, row, now)
    return taken


def fire_schedule(services: Services, row: Any, now: datetime) -> int:
    with services.reader.connect() as conn:
        version = catalog.version(conn, row.version_id)
    wf = released(version.id, version.definition)
    trigger = wf.trigger
    if not isinstance(trigger, ScheduleTrigger) or not row.active:
        with services.engine.begin() as conn:
            triggers.move_on(conn, row.id, row.next_at, None)
        return 0
    tick = row.next_at
    following = schedule.parse(trigger.cron, trigger.timezone).next_after(max(now, tick))
    with services.engine.begin() as conn:
        if not triggers.move_on(conn, row.id, tick, following):
            return 0  # another process fired this tick
        _, created, _ = runs.add_event(
            conn,
            env=row.environment,
            kind="schedule",
            name=wf.key,
            payload={"scheduledAt": iso(tick), "firedAt": iso(now)},
            user_id=row.user_id,
            install_ids=[(row.workflow_install_id, row.workflow_id, row.user_id, version.id)],
            dedupe_key=f"schedule:{row.workflow_install_id}:{iso(tick)}",
            workflow_install_id=row.workflow_install_id,
        )
    services.dispatch.ready(created)
    return 1


def _poll(
    services: Services, app: Any, hook: PollingTrigger, install: Any, cursor: Any
) -> tuple[list[dict[str, Any]], Any]:
    ctx = services.app_context(app, credential_for(services, install, app.key))
    try:
        return hook.poll(ctx, cursor)
    except ReconnectNeeded:
        if not app.is_oauth:
            raise
    # a 401 on an OAuth2 token that looked fresh (revoked, or expired early): one refresh, once,
    # as an action gets (engine/blocks.py); a refused refresh marks the credential
    ctx = services.app_context(app, credential_for(services, install, app.key, refresh=True))
    return hook.poll(ctx, cursor)


def run_poll(services: Services, row: Any, now: datetime) -> int:
    held = now + POLL_LEASE
    with services.engine.begin() as conn:
        if not triggers.move_on(conn, row.id, row.next_at, held):
            return 0
        install = installs.install_by_id(conn, row.workflow_install_id)
        version = catalog.version(conn, row.version_id)
    wf = released(version.id, version.definition)
    trigger = wf.trigger
    hook = (
        services.apps[trigger.app].triggers.get(trigger.event)
        if isinstance(trigger, AppEventTrigger)
        else None
    )
    if install is None or not install.active or not isinstance(hook, PollingTrigger):
        with services.engine.begin() as conn:
            triggers.move_on(conn, row.id, held, None)
        return 0
    assert isinstance(trigger, AppEventTrigger)
    app = services.apps[trigger.app]
    try:
        records, cursor = _poll(services, app, hook, install, row.cursor)
    except ReconnectNeeded as exc:
        log.warning("poll of %s stopped: %s", row.workflow_install_id, exc.message)
        with services.engine.begin() as conn:
            triggers.move_on(conn, row.id, held, None)
        return 1
    except SolderError as exc:
        log.warning("poll of %s failed, again in a minute: %s", row.workflow_install_id,
                    exc.message)  # fmt: skip
        with services.engine.begin() as conn:
            triggers.move_on(conn, row.id, held, utcnow() + RETRY_POLL)
        return 1
    created: list[str] = []
    with services.engine.begin() as conn:
        for record in records:
            _, ids, _ = runs.add_event(
                conn,
                env=row.environment,
                kind="poll",
                name=f"{app.key}:{hook.key}",
                payload=record,
                user_id=row.user_id,
                install_ids=[(install.id, install.workflow_id, install.user_id, version.id)],
                dedupe_key=f"poll:{row.user_id}:{row.workflow_id}:{hook.record_id(record)}",
                workflow_install_id=install.id,
            )
            created += ids
        next_at = utcnow() + timedelta(seconds=hook.interval)
        triggers.save_cursor(conn, row.id, cursor, held, next_at)
    services.dispatch.ready(created)
    return 1
