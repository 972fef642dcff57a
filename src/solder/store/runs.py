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

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Connection, Select, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from solder.errors import Conflict, NotFound
from solder.store.raw import Raw, Statement
from solder.store.tables import (
    block_results,
    events,
    outbox,
    runs,
)
from solder.store.types import new_id, utcnow

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


def add_app_event(
    conn: Connection,
    install: Any,
    app_key: str,
    event_key: str,
    payload: Any,
    event_id: str | None,
) -> tuple[str, list[str], bool]:
    """Store an app's event for one installed copy (``add_event``), deduplicated by the
    provider's ``event_id`` per copy when the app gives one."""
    return add_event(
        conn,
        env=install.environment,
        kind="app",
        name=f"{app_key}:{event_key}",
        payload=payload,
        user_id=install.user_id,
        workflow_install_id=install.id,
        install_ids=[(install.id, install.workflow_id, install.user_id, install.version_id)],
        dedupe_key=f"{app_key}:{install.id}:{event_id}" if event_id else None,
    )  # fmt: skip


# ---- accepting an event --------------------------------------------------------------------

_EVENT_BODY = Statement("SELECT body FROM custom_events WHERE environment = :env AND name = :name")
_USER_BY_ID = Statement("SELECT id FROM users WHERE environment = :env AND id = :ref")
_USER_BY_NAME = Statement("SELECT id FROM users WHERE environment = :env AND username = :ref")
_TARGETS = Statement(
    """SELECT id, workflow_id, version_id FROM workflow_installs
       WHERE environment = :env AND user_id = :user AND trigger_key = :trigger AND active"""
)
_SEEN = Statement(
    """SELECT id, kind, name, user_id, payload FROM events
       WHERE environment = :env AND dedupe_key = :key"""
)
_ADD_EVENT = Statement(
    """INSERT INTO events (id, environment, kind, name, user_id, workflow_install_id,
                           dedupe_key, payload, received_at)
       VALUES (:id, :env, :kind, :name, :user, NULL, :key, :payload, :at)
       ON CONFLICT (environment, dedupe_key) DO NOTHING"""
)
_ADD_RUN = Statement(
    """INSERT INTO runs (id, environment, event_id, workflow_install_id, workflow_id, user_id,
                         version_id, status, attempt, fence, next_attempt_at, created_at,
                         lease_owner, lease_expires_at, started_at)
       VALUES (:id, :env, :event, :install, :workflow, :user, :version, :status, 0, :fence,
               :at, :at, :owner, :until, :started)"""
)


class Claimer(Protocol):
    """Claims some of an event's runs for this process at once (``dispatch.Handoff``)."""

    owner: str
    lease: timedelta

    def take(self, wanted: int) -> int:
        """How many of ``wanted`` new runs to store as claimed (running, fence 1)."""


class Accepted(NamedTuple):
    run_ids: list[str]
    claimed: int
    """The first ``claimed`` of ``run_ids`` were stored claimed by the ``Claimer``."""


def _custom_event_body(raw: Raw, env: str, name: str) -> Any:
    """The sample body of the custom event ``name`` as stored (JSON text on SQLite, parsed on
    PostgreSQL); 404 naming ``event`` when there is none."""
    row = raw.execute(_EVENT_BODY, {"env": env, "name": name}).fetchone()
    if row is None:
        raise NotFound(f"event: no custom event named {name!r}", field="event")
    return row[0]


def _user_id_of(raw: Raw, env: str, ref: str) -> str:
    """A user's id from an id or a username (an id wins, as in ``users.get``); 404 otherwise."""
    params = {"env": env, "ref": ref}
    row = raw.execute(_USER_BY_ID, params).fetchone()
    if row is None:
        row = raw.execute(_USER_BY_NAME, params).fetchone()
    if row is None:
        raise NotFound(f"userId: no user {ref!r}", field="userId")
    return str(row[0])


def _routing(raw: Raw, env: str, name: str, user_ref: str) -> tuple[Any, str, list[Any]]:
    """The event's sample body, the user's id and the active installed copies it starts."""
    body = _custom_event_body(raw, env, name)
    user_id = _user_id_of(raw, env, user_ref)
    targets = raw.execute(
        _TARGETS, {"env": env, "user": user_id, "trigger": f"event:{name}"}
    ).fetchall()
    return body, user_id, targets


def accept_custom_event(
    conn: Connection,
    *,
    env: str,
    name: str,
    user_ref: str,
    payload: Any,
    check: Callable[[Any, Any], None],
    idempotency_key: str | None,
    claim: Claimer | None = None,
) -> Accepted:
    """Store a custom event and one queued run per active installed copy it starts.

    ``check(body, payload)`` raises when the payload does not fit the event's sample body
    (given as stored: JSON text on SQLite, parsed on PostgreSQL).
    Every refusal (no such event or user, a bad payload, an Idempotency-Key reused for another
    request) is raised before anything is written, so the caller's transaction stays usable.
    Returns the ids of the runs made (none for a repeated call with the same key), the first
    ``claimed`` of them stored already claimed for ``claim``'s owner.
    """
    raw = Raw(conn)
    body, user_id, targets = _routing(raw, env, name, user_ref)
    check(body, payload)
    key = f"idem:{idempotency_key}" if idempotency_key else None
    if key is not None and _repeated(raw, env, key, ("custom", name, user_id, payload)):
        return Accepted([], 0)
    moment = utcnow()
    now = raw.time(moment)
    event_id = new_id()
    cur = raw.execute(
        _ADD_EVENT,
        {"id": event_id, "env": env, "kind": "custom", "name": name, "user": user_id,
         "key": key, "payload": raw.json(payload), "at": now},
    )  # fmt: skip
    if cur.rowcount != 1:  # another process stored the same key since we looked
        assert key is not None
        if not _repeated(raw, env, key, ("custom", name, user_id, payload)):
            raise Conflict("Idempotency-Key: already used for a different request")
        return Accepted([], 0)
    claimed = claim.take(len(targets)) if claim is not None and targets else 0
    queued = {"status": "queued", "fence": 0, "owner": None, "until": None, "started": None}
    running = queued
    if claimed:
        assert claim is not None
        until = raw.time(moment + claim.lease)
        running = {"status": "running", "fence": 1, "owner": claim.owner, "until": until,
                   "started": now}  # fmt: skip
    rows = [
        {"id": new_id(), "env": env, "event": event_id, "install": install_id,
         "workflow": workflow_id, "user": user_id, "version": version_id, "at": now,
         **(running if i < claimed else queued)}
        for i, (install_id, workflow_id, version_id) in enumerate(targets)
    ]  # fmt: skip
    if rows:
        raw.executemany(_ADD_RUN, rows)
    return Accepted([r["id"] for r in rows], claimed)


def _repeated(raw: Raw, env: str, key: str, request: tuple[Any, ...]) -> bool:
    """Whether ``key`` was used before: by this same request (True), by another (409)."""
    row = raw.execute(_SEEN, {"env": env, "key": key}).fetchone()
    if row is None:
        return False
    if (row[1], row[2], row[3], Raw.from_json(row[4])) != request:
        raise Conflict("Idempotency-Key: already used for a different request")
    return True


# ---- claiming and executing runs: the statements on every run's path -----------------------

# Two statements, not one with OR: each walks the (status, next_attempt_at) index and stops
# after ``limit`` rows, where the OR form gathered and sorted every due run first (thousands
# in a burst, on every claim).
_LAPSED = Statement(
    """SELECT id, fence FROM runs WHERE status = 'running' AND lease_expires_at < :now
       LIMIT :limit"""
)
_DUE = Statement(
    """SELECT id, fence FROM runs WHERE status = 'queued' AND next_attempt_at <= :now
       ORDER BY next_attempt_at LIMIT :limit"""
)
_CLAIM = Statement(
    """UPDATE runs SET status = 'running', lease_owner = :owner, lease_expires_at = :until,
              fence = :next, started_at = COALESCE(started_at, :now)
       WHERE id = :id AND fence = :fence AND status NOT IN ('succeeded', 'failed')"""
)
_RENEW = Statement("UPDATE runs SET lease_expires_at = :until WHERE id = :id AND fence = :fence")
_FINISH = Statement(
    """UPDATE runs SET status = :status, error = :error, finished_at = :at,
              lease_expires_at = NULL
       WHERE id = :id AND fence = :fence"""
)
_LOAD = Statement(
    """SELECT r.id, r.environment, r.workflow_id, r.user_id, r.version_id, r.fence, r.attempt,
              r.workflow_install_id, e.payload, v.definition, u.username, w.id, w.config,
              w.credential_ids, w.environment, w.output_override
       FROM runs r
       JOIN events e ON e.id = r.event_id
       JOIN workflow_versions v ON v.id = r.version_id
       JOIN users u ON u.id = r.user_id
       LEFT OUTER JOIN workflow_installs w ON w.id = r.workflow_install_id
       WHERE r.id = :id"""
)
_RESULT_INSERT = Statement(
    """INSERT INTO block_results (id, run_id, block_id, block_name, block_type, position,
                                  status, input, output, error, attempts, started_at,
                                  finished_at)
       VALUES (:id, :run, :block, :name, :type, :position, :status, :input, :output, :error,
               :attempts, :started, :finished)"""
)
_RESULT_UPDATE = Statement(
    """UPDATE block_results SET status = :status, input = :input, output = :output,
              error = :error, attempts = :attempts, started_at = :started,
              finished_at = :finished
       WHERE run_id = :run AND block_id = :block"""
)


class Due(NamedTuple):
    id: str
    fence: int


def claimable(conn: Connection, now: datetime, limit: int) -> list[Due]:
    """Up to ``limit`` runs to claim: those whose lease lapsed, then queued ones that are due,
    oldest due first."""
    raw = Raw(conn)
    params = {"now": raw.time(now), "limit": limit}
    rows = raw.execute(_LAPSED, params).fetchall()
    if len(rows) < limit:
        params["limit"] = limit - len(rows)
        rows += raw.execute(_DUE, params).fetchall()
    return [Due(str(r[0]), int(r[1])) for r in rows]


def claim(conn: Connection, run_id: str, fence: int, owner: str, lease: timedelta) -> int | None:
    """Take the run if nobody took it since we read ``fence``; return the new fence."""
    raw = Raw(conn)
    now = utcnow()
    cur = raw.execute(
        _CLAIM,
        {"id": run_id, "fence": fence, "owner": owner, "until": raw.time(now + lease),
         "next": fence + 1, "now": raw.time(now)},
    )  # fmt: skip
    return fence + 1 if cur.rowcount == 1 else None


def renew(conn: Connection, run_id: str, fence: int, lease: timedelta) -> None:
    raw = Raw(conn)
    cur = raw.execute(_RENEW, {"id": run_id, "fence": fence, "until": raw.time(utcnow() + lease)})
    if cur.rowcount != 1:
        raise LeaseLost(run_id)


def finish(conn: Connection, run_id: str, fence: int, status: str, error: Any = None) -> None:
    raw = Raw(conn)
    cur = raw.execute(
        _FINISH,
        {"id": run_id, "fence": fence, "status": status, "error": raw.json(error),
         "at": raw.time(utcnow())},
    )  # fmt: skip
    if cur.rowcount != 1:
        raise LeaseLost(run_id)


def load_for_execution(conn: Connection, run_id: str) -> SimpleNamespace:
    """Everything a worker needs to execute a run, in one query.

    Attributes: the run's ``id, environment, workflow_id, user_id, version_id, fence, attempt,
    workflow_install_id``; the event's ``payload``; the version's ``definition``; the user's
    ``username``; and the installed copy's ``install_id``, ``install_config``,
    ``install_credential_ids``, ``install_environment`` and ``install_output_override`` (all
    None once the workflow was uninstalled).
    """
    row = Raw(conn).execute(_LOAD, {"id": run_id}).fetchone()
    if row is None:
        raise LookupError(f"run {run_id} not found")
    return SimpleNamespace(
        id=row[0],
        environment=row[1],
        workflow_id=row[2],
        user_id=row[3],
        version_id=row[4],
        fence=row[5],
        attempt=row[6],
        workflow_install_id=row[7],
        payload=Raw.from_json(row[8]),
        definition=Raw.from_json(row[9]),
        username=row[10],
        install_id=row[11],
        install_config=Raw.from_json(row[12]),
        install_credential_ids=Raw.from_json(row[13]),
        install_environment=row[14],
        install_output_override=Raw.from_json(row[15]),
    )


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
    raw = Raw(conn)
    params = {
        "run": run_id, "block": block["id"], "status": status, "input": raw.json(inp),
        "output": raw.json(output), "error": error, "attempts": attempt,
        "started": raw.time(started_at), "finished": raw.time(utcnow()),
    }  # fmt: skip
    if not first and raw.execute(_RESULT_UPDATE, params).rowcount:
        return
    params.update(
        id=new_id(),
        name=block.get("name") or block["key"],
        type=block["type"],
        position=position,
    )
    raw.execute(_RESULT_INSERT, params)


def set_output(conn: Connection, run_id: str, block_id: str, output: Any) -> None:
    """Replace the stored output of a finished step (an iterate's, once it has ``items``)."""
    conn.execute(
        update(block_results)
        .where(block_results.c.run_id == run_id, block_results.c.block_id == block_id)
        .values(output=output)
    )


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


def retry_held(
    conn: Connection, run_id: str, fence: int, at: datetime, attempt: int, lease: timedelta
) -> None:
    """A short retry this process waits out itself: the run stays running under its lease
    (renewed here), due again at ``at``. Should the process die meanwhile, the lease lapses
    and the run is claimed again like any other; stopping gives it back with ``unclaim``,
    still due at ``at``."""
    _fenced(
        conn,
        run_id,
        fence,
        next_attempt_at=at,
        attempt=attempt,
        lease_expires_at=utcnow() + lease,
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


def results_of(conn: Connection, run_ids: Sequence[str]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {r: [] for r in run_ids}
    if not run_ids:
        return out
    q = select(block_results).where(block_results.c.run_id.in_(run_ids))
    for row in conn.execute(q.order_by(block_results.c.position)):
        out[row.run_id].append(row)
    return out


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
    env: str,
    user_id: str | None,
    workflow_id: str | None,
    status: str | None,
    version_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Any]:
    where: list[Any] = [runs.c.environment == env]
    if version_id is not None:
        where.append(runs.c.version_id == version_id)
    if since is not None:
        where.append(runs.c.created_at >= since)
    if until is not None:
        where.append(runs.c.created_at < until)
    if user_id is not None:
        where.append(runs.c.user_id == user_id)
    if workflow_id is not None and version_id is None:
        # a version belongs to one workflow (the API checks it does to this one): filtering
        # by the version alone lets (environment, version_id, created_at, id) count its runs
        # without reading them
        where.append(runs.c.workflow_id == workflow_id)
    if status is not None:
        where.append(runs.c.status == status)
    return where


def runs_query(
    env: str,
    *,
    user_id: str | None = None,
    workflow_id: str | None = None,
    status: str | None = None,
    version_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    sort: str = "startedAt",
    newest_first: bool = True,
    offset: int = 0,
    limit: int = 20,
) -> Select[Any]:
    """Runs of one environment, filtered, sorted by start (queued: creation), by stop time or
    by creation (``createdAt``: the order the ``(environment, created_at)`` indexes serve,
    so the newest page of 100,000 runs is read without sorting them).

    Sorted by stop time, unfinished runs come last in either order on every backend (SQLite
    and PostgreSQL put NULLs at opposite ends by default). ``since``/``until`` bound the
    creation time (when the event was accepted).
    """
    where = _filtered(env, user_id, workflow_id, status, version_id, since, until)
    q = select(runs).where(*where)
    by_stop = sort == "stoppedAt"
    key: Any = {
        "stoppedAt": runs.c.finished_at,
        "createdAt": runs.c.created_at,
    }.get(sort, func.coalesce(runs.c.started_at, runs.c.created_at))
    keys: list[Any] = [runs.c.finished_at.is_(None)] if by_stop else []
    keys += [key.desc(), runs.c.id.desc()] if newest_first else [key.asc(), runs.c.id.asc()]
    return q.order_by(*keys).offset(offset).limit(limit)


def list_runs(conn: Connection, env: str, **how: Any) -> list[Any]:
    """The runs :func:`runs_query` selects."""
    return list(conn.execute(runs_query(env, **how)))


def count_runs(
    conn: Connection,
    env: str,
    *,
    user_id: str | None = None,
    workflow_id: str | None = None,
    status: str | None = None,
    version_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    q = select(func.count()).select_from(runs)
    where = _filtered(env, user_id, workflow_id, status, version_id, since, until)
    return int(conn.execute(q.where(*where)).scalar_one())


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
