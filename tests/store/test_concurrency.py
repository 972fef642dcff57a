"""Concurrent writers through ``make_engine``: no lost update, and one winner per claim.

DESIGN.md's pitfall: with pysqlite's default transaction handling, threads doing
read-modify-write in transactions silently lost most of their increments. ``make_engine``
starts every SQLite transaction with ``BEGIN IMMEDIATE``; on PostgreSQL the portable idiom is
a ``SELECT ... FOR UPDATE`` (which SQLite ignores: its transactions are already serial).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import Column, Connection, Engine, Integer, MetaData, Table, insert, select, update

from solder.store import runs
from solder.store.db import is_sqlite
from solder.store.tables import integrations, users, workflow_versions, workflows
from solder.store.types import new_id, utcnow

THREADS = 8
INCREMENTS = 25
LEASE = timedelta(seconds=30)
T = TypeVar("T")

scratch = MetaData()
counters = Table(
    "scratch_counters",
    scratch,
    Column("id", Integer, primary_key=True),
    Column("n", Integer, nullable=False),
)


def race(count: int, work: Callable[[int], T]) -> list[T]:
    """Run ``work(i)`` in ``count`` threads released together; return the results in order."""
    start = threading.Barrier(count)

    def go(i: int) -> T:
        start.wait(timeout=10)
        return work(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(go, range(count)))


@pytest.mark.parametrize("lock", ["for_update", "plain_read"])
def test_concurrent_read_modify_write_loses_no_update(engine: Engine, lock: str) -> None:
    if lock == "plain_read" and not is_sqlite(engine):
        pytest.skip("PostgreSQL's READ COMMITTED lets a plain read-modify-write lose updates")
    scratch.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(counters).values(id=1, n=0))
    read = select(counters.c.n).where(counters.c.id == 1)
    if lock == "for_update":
        read = read.with_for_update()

    def increment(_: int) -> None:
        for _ in range(INCREMENTS):
            with engine.begin() as conn:
                n = conn.execute(read).scalar_one()
                time.sleep(0.0005)  # widen the window between the read and the write
                conn.execute(update(counters).where(counters.c.id == 1).values(n=n + 1))

    race(THREADS, increment)
    with engine.connect() as conn:
        assert conn.execute(select(counters.c.n)).scalar_one() == THREADS * INCREMENTS


def seed_runs(conn: Connection, count: int) -> list[str]:
    """A user, a released workflow and ``count`` queued runs of it (one event each)."""
    now = utcnow()
    user_id, integration_id, workflow_id, version_id = new_id(), new_id(), new_id(), new_id()
    conn.execute(
        insert(users).values(
            id=user_id, environment="development", username="gregg", created_at=now, updated_at=now
        )
    )
    conn.execute(
        insert(integrations).values(
            id=integration_id,
            environment="development",
            key="parcels",
            app="bigcommerce",
            name="Parcels",
            created_at=now,
            updated_at=now,
        )
    )
    conn.execute(
        insert(workflows).values(
            id=workflow_id,
            environment="development",
            integration_id=integration_id,
            key="parcel-shipped",
            name="Parcel shipped",
            draft={},
            draft_hash="0" * 64,
            created_at=now,
            updated_at=now,
        )
    )
    conn.execute(
        insert(workflow_versions).values(
            id=version_id,
            workflow_id=workflow_id,
            number=1,
            definition={},
            hash="0" * 64,
            released_at=now,
        )
    )
    for n in range(count):
        runs.add_event(
            conn,
            env="development",
            kind="custom",
            name="Parcel Shipped",
            payload={"n": n},
            user_id=user_id,
            install_ids=[(None, workflow_id, user_id, version_id)],  # type: ignore[list-item]
        )
    return [row.id for row in runs.claimable(conn, utcnow(), count)]


def claim_as(engine: Engine, run_id: str, fence: int, owner: str, lease: timedelta) -> int | None:
    with engine.begin() as conn:
        return runs.claim(conn, run_id, fence, owner, lease)


def claim_race(engine: Engine, run_id: str, fence: int, name: str, i: int) -> int | None:
    return claim_as(engine, run_id, fence, f"{name}-{i}", LEASE)


def test_workers_racing_for_a_run_get_it_once(engine: Engine) -> None:
    with engine.begin() as conn:
        run_ids = seed_runs(conn, 20)
    assert len(run_ids) == 20
    for run_id in run_ids:
        got = race(THREADS, functools.partial(claim_race, engine, run_id, 0, "worker"))
        winners = [i for i, fence in enumerate(got) if fence is not None]
        assert len(winners) == 1, got
        assert got[winners[0]] == 1
        with engine.connect() as conn:
            row = runs.get_run(conn, run_id)
        assert (row.status, row.fence, row.lease_owner) == ("running", 1, f"worker-{winners[0]}")
    with engine.connect() as conn:
        assert runs.claimable(conn, utcnow(), 100) == []  # leased runs are nobody else's


def test_an_expired_lease_passes_the_run_on_and_fences_out_the_old_worker(engine: Engine) -> None:
    with engine.begin() as conn:
        (run_id,) = seed_runs(conn, 1)
    old = claim_as(engine, run_id, 0, "old", timedelta(seconds=-1))  # expired at once
    assert old == 1
    with engine.connect() as conn:
        (candidate,) = runs.claimable(conn, utcnow(), 10)
    assert (candidate.id, candidate.fence) == (run_id, 1)
    got = race(THREADS, functools.partial(claim_race, engine, run_id, 1, "new"))
    assert sorted(got, key=lambda f: f or 0) == [None] * (THREADS - 1) + [2]

    stale_writes: list[Callable[[Connection], None]] = [
        lambda conn: runs.renew(conn, run_id, old, LEASE),
        lambda conn: runs.finish(conn, run_id, old, "failed", {"message": "stale"}),
        lambda conn: runs.retry_later(conn, run_id, old, utcnow(), 1),
    ]
    for fenced_write in stale_writes:
        with pytest.raises(runs.LeaseLost), engine.begin() as conn:
            fenced_write(conn)
    with engine.begin() as conn:
        runs.finish(conn, run_id, 2, "succeeded")
    with engine.connect() as conn:
        row: Any = runs.get_run(conn, run_id)
    assert (row.status, row.error, row.fence) == ("succeeded", None, 2)
    assert claim_as(engine, run_id, 2, "late", LEASE) is None  # a finished run stays finished
