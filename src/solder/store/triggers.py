"""Schedules and polling cursors (``trigger_states``): when each is due, and where it is.

One row per user and workflow, kept across upgrades, re-releases and reinstalls, so a
polling cursor is never reset by a new version. Taking a due row is a compare-and-set on
``next_at``: of any number of processes that read the same due row, exactly one moves it on,
and only that one fires the tick or runs the poll.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from solder.store.tables import trigger_states, workflow_installs
from solder.store.types import new_id, utcnow


def arm(
    conn: Connection,
    *,
    env: str,
    user_id: str,
    workflow_id: str,
    workflow_install_id: str,
    kind: str,
    next_at: datetime,
) -> None:
    """Make the trigger due at ``next_at`` for this installed copy; keep any stored cursor."""
    now = utcnow()
    updated = conn.execute(
        update(trigger_states)
        .where(trigger_states.c.user_id == user_id, trigger_states.c.workflow_id == workflow_id)
        .values(
            workflow_install_id=workflow_install_id,
            kind=kind,
            next_at=next_at,
            updated_at=now,
        )
    )
    if updated.rowcount:
        return
    conn.execute(
        trigger_states.insert().values(
            id=new_id(),
            environment=env,
            user_id=user_id,
            workflow_id=workflow_id,
            workflow_install_id=workflow_install_id,
            kind=kind,
            next_at=next_at,
            cursor=None,
            updated_at=now,
        )
    )


def disarm(conn: Connection, workflow_install_id: str) -> None:
    conn.execute(
        update(trigger_states)
        .where(trigger_states.c.workflow_install_id == workflow_install_id)
        .values(next_at=None, updated_at=utcnow())
    )


def resume_polls(conn: Connection, workflow_install_ids: list[str], at: datetime) -> int:
    """Polls of these copies that stopped (a credential to reconnect) are due again at ``at``."""
    if not workflow_install_ids:
        return 0
    result = conn.execute(
        update(trigger_states)
        .where(
            trigger_states.c.workflow_install_id.in_(workflow_install_ids),
            trigger_states.c.kind == "poll",
            trigger_states.c.next_at.is_(None),
        )
        .values(next_at=at, updated_at=utcnow())
    )
    return int(result.rowcount or 0)


def due(conn: Connection, now: datetime, limit: int) -> list[Any]:
    """Due triggers with what firing them needs: the installed copy's version and user."""
    q = (
        select(
            trigger_states,
            workflow_installs.c.version_id,
            workflow_installs.c.active,
        )
        .join(workflow_installs, workflow_installs.c.id == trigger_states.c.workflow_install_id)
        .where(trigger_states.c.next_at <= now)
        .order_by(trigger_states.c.next_at)
        .limit(limit)
    )
    return list(conn.execute(q))


def move_on(
    conn: Connection, state_id: str, seen_next_at: datetime, next_at: datetime | None
) -> bool:
    """Take a due trigger: move ``next_at`` on if nobody did since we read it."""
    result = conn.execute(
        update(trigger_states)
        .where(trigger_states.c.id == state_id, trigger_states.c.next_at == seen_next_at)
        .values(next_at=next_at, updated_at=utcnow())
    )
    return result.rowcount == 1


def save_cursor(
    conn: Connection, state_id: str, cursor: Any, held_until: datetime, next_at: datetime
) -> None:
    """Store a poll's new cursor; make it due again unless it was disarmed or re-armed."""
    conn.execute(
        update(trigger_states)
        .where(trigger_states.c.id == state_id)
        .values(cursor=cursor, updated_at=utcnow())
    )
    conn.execute(
        update(trigger_states)
        .where(trigger_states.c.id == state_id, trigger_states.c.next_at == held_until)
        .values(next_at=next_at)
    )


def state_of(conn: Connection, user_id: str, workflow_id: str) -> Any:
    return conn.execute(
        select(trigger_states).where(
            trigger_states.c.user_id == user_id, trigger_states.c.workflow_id == workflow_id
        )
    ).first()
