"""Notices for the ISV (the error stream), stored with the change that caused them.

A notice is written in the same transaction as the run's failure, so none is lost; a
delivery loop takes due ones by a compare-and-set on ``next_attempt_at`` (one process
delivers each attempt) and records the outcome.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from solder.store.tables import environment_settings, outbox
from solder.store.types import new_id, utcnow


def add(
    conn: Connection, *, env: str, kind: str, run_id: str | None, user_id: str | None,
    payload: dict[str, Any],
) -> None:  # fmt: skip
    now = utcnow()
    conn.execute(
        outbox.insert().values(
            id=new_id(),
            environment=env,
            kind=kind,
            run_id=run_id,
            user_id=user_id,
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )


def due(conn: Connection, now: datetime, limit: int) -> list[Any]:
    q = (
        select(outbox)
        .where(outbox.c.status == "pending", outbox.c.next_attempt_at <= now)
        .order_by(outbox.c.next_attempt_at)
        .limit(limit)
    )
    return list(conn.execute(q))


def take(conn: Connection, notice_id: str, seen: datetime, until: datetime) -> bool:
    result = conn.execute(
        update(outbox)
        .where(outbox.c.id == notice_id, outbox.c.next_attempt_at == seen,
               outbox.c.status == "pending")
        .values(next_attempt_at=until)
    )  # fmt: skip
    return result.rowcount == 1


def settle(
    conn: Connection, notice_id: str, *, status: str, attempts: int,
    next_attempt_at: datetime | None = None, error: str | None = None,
) -> None:  # fmt: skip
    values: dict[str, Any] = {"status": status, "attempts": attempts, "last_error": error}
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    if status == "delivered":
        values["delivered_at"] = utcnow()
    conn.execute(update(outbox).where(outbox.c.id == notice_id).values(**values))


def of_environment(conn: Connection, env: str, limit: int = 100) -> list[Any]:
    q = (
        select(outbox)
        .where(outbox.c.environment == env)
        .order_by(outbox.c.created_at.desc())
        .limit(limit)
    )
    return list(conn.execute(q))


def settings_of(conn: Connection, env: str) -> dict[str, Any]:
    row = conn.execute(
        select(environment_settings.c.settings).where(environment_settings.c.environment == env)
    ).first()
    return dict(row.settings) if row is not None else {}


def put_settings(conn: Connection, env: str, settings: dict[str, Any]) -> None:
    now = utcnow()
    updated = conn.execute(
        update(environment_settings)
        .where(environment_settings.c.environment == env)
        .values(settings=settings, updated_at=now)
    )
    if not updated.rowcount:
        conn.execute(
            environment_settings.insert().values(environment=env, settings=settings,
                                                 updated_at=now)
        )  # fmt: skip
