"""Inbox events, runs and block results: the durable state of execution.

Run states and the only moves between them::

    queued --claim--> running --finish--> succeeded | failed
       ^                 |
       +----retry--------+        (and running --lease expired--> claimable again)

Every write a worker makes after claiming is fenced: it names the ``fence`` number it got at
claim time, so a worker whose lease expired (and whose run was claimed again elsewhere)
changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from solder.store.tables import (
    block_results,
    events,
    outbox,
    runs,
    users,
    workflow_installs,
    workflow_versions,
)
from solder.store.types import UTCDateTime, new_id, utcnow

TERMINAL = ("succeeded", "failed")


class LeaseLost(Exception):
    """The run was claimed by someone else: stop touching it."""


def add_event(
    conn: Connection,
    *,
    env: str,
    kind: str,
    name: str,
    payload: Any,
    user_id: str | None,
    install_ids: Sequence[tuple[str, str, str, str]],
    dedupe_key: str | None = None,
    workflow_install_id: str | None = None,
) -> tuple[str, list[str], bool]:
    """Store an event and one queued run per ``(install, workflow, user, version)``.

    Returns ``(event_id, run_ids, duplicate)``; a duplicate (same ``dedupe_key``) stores
    nothing and returns the first event's id (and no run ids).
    """
    now = utcnow()
    if dedupe_key is not None:
        seen = conn.execute(
            select(events.c.id).where(
                events.c.environment == env, events.c.dedupe_key == dedupe_key
            )
        ).first()
        if seen is not None:
            return str(seen.id), [], True
    event_id = new_id()
    try:
        with conn.begin_nested():
            conn.execute(
                insert(events).values(
                    id=event_id,
                    environment=env,
                    kind=kind,
                    name=name,
                    user_id=user_id,
                    workflow_install_id=workflow_install_id,
                    dedupe_key=dedupe_key,
                    payload=payload,
                    received_at=now,
                )
            )
    except IntegrityError:
        seen = conn.execute(
            select(events.c.id).where(
                events.c.environment == env, events.c.dedupe_key == dedupe_key
            )
        ).one()
        return str(seen.id), [], True
    rows = [
        {
            "id": new_id(),
            "environment": env,
            "event_id": event_id,
            "workflow_install_id": install_id,
            "workflow_id": workflow_id,
            "user_id": uid,
            "version_id": version_id,
            "status": "queued",
            "attempt": 0,
            "fence": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for install_id, workflow_id, uid, version_id in install_ids
    ]
    if rows:
        conn.execute(insert(runs), rows)
    return event_id, [str(r["id"]) for r in rows], False


def claimable(conn: Connection, now: datetime, limit: int) -> list[Any]:
    q = (
        select(runs.c.id, runs.c.fence)
        .where(
            or_(
                and_(runs.c.status == "queued", runs.c.next_attempt_at <= now),
                and_(runs.c.status == "running", runs.c.lease_expires_at < now),
            )
        )
        .order_by(runs.c.next_attempt_at)
        .limit(limit)
    )
    return list(conn.execute(q))


# The statements a worker runs for every run, built once: building and hashing a statement
# per call cost more than executing it (SQLAlchemy then reuses the compiled form).
_CLAIM = (
    update(runs)
    .where(
        runs.c.id == bindparam("b_id"),
        runs.c.fence == bindparam("b_fence"),
        runs.c.status.not_in(TERMINAL),
    )
    .values(
        status="running",
        lease_owner=bindparam("b_owner"),
        lease_expires_at=bindparam("b_until"),
        fence=bindparam("b_next"),
        started_at=func.coalesce(runs.c.started_at, bindparam("b_now", type_=UTCDateTime())),
    )
)
_FENCED = (runs.c.id == bindparam("b_id"), runs.c.fence == bindparam("b_fence"))
_RENEW = update(runs).where(*_FENCED).values(lease_expires_at=bindparam("b_until"))
_FINISH = (
    update(runs)
    .where(*_FENCED)
    .values(
        status=bindparam("b_status"),
        error=bindparam("b_error", type_=runs.c.error.type),
        finished_at=bindparam("b_at"),
        lease_expires_at=None,  # the owner stays: which process ran it last
    )
)
_RESULT_INSERT = insert(block_results)
_RESULT_UPDATE = (
    update(block_results)
    .where(
        block_results.c.run_id == bindparam("b_run"),
        block_results.c.block_id == bindparam("b_block"),
    )
    .values(
        status=bindparam("b_status"),
        input=bindparam("b_input", type_=block_results.c.input.type),
        output=bindparam("b_output", type_=block_results.c.output.type),
        error=bindparam("b_error"),
        attempts=bindparam("b_attempts"),
        started_at=bindparam("b_started"),
        finished_at=bindparam("b_finished"),
    )
)


def claim(conn: Connection, run_id: str, fence: int, owner: str, lease: timedelta) -> int | None:
    """Take the run if nobody took it since we read ``fence``; return the new fence."""
    now = utcnow()
    result = conn.execute(
        _CLAIM,
        {"b_id": run_id, "b_fence": fence, "b_owner": owner, "b_until": now + lease,
         "b_next": fence + 1, "b_now": now},
    )  # fmt: skip
    return fence + 1 if result.rowcount == 1 else None


def release_all_leases(conn: Connection) -> int:
    """Embedded mode only: at start no other process can hold a lease, so free them all."""
    result = conn.execute(
        update(runs)
        .where(runs.c.status == "running")
        .values(status="queued", lease_owner=None, lease_expires_at=None)
    )
    return int(result.rowcount)


def unclaim(conn: Connection, run_id: str, fence: int) -> None:
    """Give back a claimed run that was never started (a worker pool shutting down)."""
    conn.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.fence == fence, runs.c.status == "running")
        .values(status="queued", lease_owner=None, lease_expires_at=None)
    )


def _fenced(conn: Connection, run_id: str, fence: int, **values: Any) -> None:
    result = conn.execute(
        update(runs).where(runs.c.id == run_id, runs.c.fence == fence).values(**values)
    )
    if result.rowcount != 1:
        raise LeaseLost(run_id)


def renew(conn: Connection, run_id: str, fence: int, lease: timedelta) -> None:
    params = {"b_id": run_id, "b_fence": fence, "b_until": utcnow() + lease}
    if conn.execute(_RENEW, params).rowcount != 1:
        raise LeaseLost(run_id)


def finish(conn: Connection, run_id: str, fence: int, status: str, error: Any = None) -> None:
    params = {"b_id": run_id, "b_fence": fence, "b_status": status, "b_error": error,
              "b_at": utcnow()}  # fmt: skip
    if conn.execute(_FINISH, params).rowcount != 1:
        raise LeaseLost(run_id)


def retry_later(conn: Connection, run_id: str, fence: int, at: datetime, attempt: int) -> None:
    _fenced(
        conn,
        run_id,
        fence,
        status="queued",
        next_attempt_at=at,
        attempt=attempt,
        lease_owner=None,
        lease_expires_at=None,
    )


def wait_until(conn: Connection, run_id: str, fence: int, at: datetime) -> None:
    """Put a run back in the queue, due at ``at`` (a delay block): no worker holds it."""
    _fenced(
        conn,
        run_id,
        fence,
        status="queued",
        next_attempt_at=at,
        lease_owner=None,
        lease_expires_at=None,
    )


def get_run(conn: Connection, run_id: str) -> Any:
    return conn.execute(select(runs).where(runs.c.id == run_id)).first()


def get_event(conn: Connection, event_id: str) -> Any:
    return conn.execute(select(events).where(events.c.id == event_id)).one()


def load_for_execution(conn: Connection, run_id: str) -> Any:
    """Everything a worker needs to execute a run, in one query.

    Columns: the run's ``id, environment, workflow_id, user_id, version_id, fence, attempt,
    workflow_install_id``; the event's ``payload``; the version's ``definition``; the user's
    ``username``; and the installed copy's ``install_config``, ``install_credential_ids`` and
    ``install_environment`` (all None once the workflow was uninstalled).
    """
    q = (
        select(
            runs.c.id,
            runs.c.environment,
            runs.c.workflow_id,
            runs.c.user_id,
            runs.c.version_id,
            runs.c.fence,
            runs.c.attempt,
            runs.c.workflow_install_id,
            events.c.payload,
            workflow_versions.c.definition,
            users.c.username,
            workflow_installs.c.id.label("install_id"),
            workflow_installs.c.config.label("install_config"),
            workflow_installs.c.credential_ids.label("install_credential_ids"),
            workflow_installs.c.environment.label("install_environment"),
        )
        .select_from(runs)
        .join(events, events.c.id == runs.c.event_id)
        .join(workflow_versions, workflow_versions.c.id == runs.c.version_id)
        .join(users, users.c.id == runs.c.user_id)
        .outerjoin(workflow_installs, workflow_installs.c.id == runs.c.workflow_install_id)
        .where(runs.c.id == run_id)
    )
    return conn.execute(q).one()


def results_of(conn: Connection, run_ids: Sequence[str]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {r: [] for r in run_ids}
    if not run_ids:
        return out
    q = select(block_results).where(block_results.c.run_id.in_(run_ids))
    for row in conn.execute(q.order_by(block_results.c.position)):
        out[row.run_id].append(row)
    return out


def record_block(
    conn: Connection,
    run_id: str,
    block: dict[str, Any],
    position: int,
    *,
    inp: Any,
    attempt: int,
    started_at: datetime,
    status: str,
    output: Any = None,
    error: str | None = None,
    first: bool = False,
) -> None:
    """Store the outcome of one attempt of a block (insert the first time, then update)."""
    finished = utcnow()
    if not first:
        updated = conn.execute(
            _RESULT_UPDATE,
            {"b_run": run_id, "b_block": block["id"], "b_status": status, "b_input": inp,
             "b_output": output, "b_error": error, "b_attempts": attempt,
             "b_started": started_at, "b_finished": finished},
        )  # fmt: skip
        if updated.rowcount:
            return
    conn.execute(
        _RESULT_INSERT,
        {
            "id": new_id(),
            "run_id": run_id,
            "block_id": block["id"],
            "block_name": block.get("name") or block["key"],
            "block_type": block["type"],
            "position": position,
            "status": status,
            "input": inp,
            "output": output,
            "error": error,
            "attempts": attempt,
            "started_at": started_at,
            "finished_at": finished,
        },
    )


def runs_of(
    conn: Connection,
    env: str,
    workflow_id: str,
    user_id: str | None,
    *,
    offset: int,
    limit: int,
    newest_first: bool,
    errors_only: bool = False,
) -> list[Any]:
    q = select(runs).where(runs.c.environment == env, runs.c.workflow_id == workflow_id)
    if user_id is not None:
        q = q.where(runs.c.user_id == user_id)
    if errors_only:
        q = q.where(runs.c.status == "failed")
    order = runs.c.created_at.desc() if newest_first else runs.c.created_at.asc()
    return list(conn.execute(q.order_by(order, runs.c.id).offset(offset).limit(limit)))


def count_by_status(conn: Connection, env: str | None = None) -> dict[str, int]:
    q = select(runs.c.status, func.count()).group_by(runs.c.status)
    if env is not None:
        q = q.where(runs.c.environment == env)
    return {str(s): int(n) for s, n in conn.execute(q)}


def purge_user(conn: Connection, user_id: str) -> int:
    """GDPR: every execution, block result and stored payload of one user."""
    run_ids = select(runs.c.id).where(runs.c.user_id == user_id).scalar_subquery()
    conn.execute(delete(block_results).where(block_results.c.run_id.in_(run_ids)))
    n = conn.execute(delete(runs).where(runs.c.user_id == user_id)).rowcount
    conn.execute(delete(events).where(events.c.user_id == user_id))
    conn.execute(delete(outbox).where(outbox.c.user_id == user_id))
    return int(n)


def purge_older_than(conn: Connection, cutoff: datetime) -> int:
    """Retention: drop finished runs (and their events) older than the cutoff."""
    old = select(runs.c.id).where(runs.c.status.in_(TERMINAL), runs.c.finished_at < cutoff)
    conn.execute(delete(outbox).where(outbox.c.created_at < cutoff))
    conn.execute(delete(outbox).where(outbox.c.run_id.in_(old.scalar_subquery())))
    conn.execute(delete(block_results).where(block_results.c.run_id.in_(old.scalar_subquery())))
    n = conn.execute(
        delete(runs).where(runs.c.status.in_(TERMINAL), runs.c.finished_at < cutoff)
    ).rowcount
    live = select(runs.c.event_id).scalar_subquery()
    conn.execute(delete(events).where(events.c.received_at < cutoff, events.c.id.not_in(live)))
    return int(n)


# ---- account-wide execution logs and re-runs ----------------------------------------------


def _filtered(
    env: str, user_id: str | None, workflow_id: str | None, status: str | None
) -> list[Any]:
    where: list[Any] = [runs.c.environment == env]
    if user_id is not None:
        where.append(runs.c.user_id == user_id)
    if workflow_id is not None:
        where.append(runs.c.workflow_id == workflow_id)
    if status is not None:
        where.append(runs.c.status == status)
    return where


def list_runs(
    conn: Connection,
    env: str,
    *,
    user_id: str | None = None,
    workflow_id: str | None = None,
    status: str | None = None,
    by_stop: bool = False,
    newest_first: bool = True,
    offset: int = 0,
    limit: int = 20,
) -> list[Any]:
    """Runs of one environment, filtered, sorted by start (queued: creation) or by stop time.

    Sorted by stop time, unfinished runs come last in either order on every backend (SQLite
    and PostgreSQL put NULLs at opposite ends by default).
    """
    q = select(runs).where(*_filtered(env, user_id, workflow_id, status))
    key: Any = (
        runs.c.finished_at if by_stop else func.coalesce(runs.c.started_at, runs.c.created_at)
    )
    keys: list[Any] = [runs.c.finished_at.is_(None)] if by_stop else []
    keys += [key.desc(), runs.c.id.desc()] if newest_first else [key.asc(), runs.c.id.asc()]
    return list(conn.execute(q.order_by(*keys).offset(offset).limit(limit)))


def count_runs(
    conn: Connection,
    env: str,
    *,
    user_id: str | None = None,
    workflow_id: str | None = None,
    status: str | None = None,
) -> int:
    q = select(func.count()).select_from(runs)
    return int(conn.execute(q.where(*_filtered(env, user_id, workflow_id, status))).scalar_one())


def find_run(conn: Connection, env: str, run_id: str) -> Any:
    """A run of ``env`` by id, or None (a run of the other environment is None too)."""
    q = select(runs).where(runs.c.environment == env, runs.c.id == run_id)
    return conn.execute(q).first()


def events_of(conn: Connection, event_ids: Sequence[str]) -> dict[str, Any]:
    if not event_ids:
        return {}
    q = select(events).where(events.c.id.in_(set(event_ids)))
    return {str(row.id): row for row in conn.execute(q)}


def add_rerun(conn: Connection, run: Any, install_id: str, version_id: str) -> str:
    """Queue one new run of ``run``'s workflow for its user on ``version_id``, fed a copy of
    the stored event (kind ``rerun``, never deduplicated); return the new run's id."""
    first = get_event(conn, run.event_id)
    _, created, _ = add_event(
        conn,
        env=run.environment,
        kind="rerun",
        name=first.name,
        payload=first.payload,
        user_id=run.user_id,
        workflow_install_id=install_id,
        install_ids=[(install_id, run.workflow_id, run.user_id, version_id)],
    )
    return created[0]
