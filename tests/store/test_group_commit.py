"""Group commit: writes from many callers share transactions, and each caller gets its own
outcome: a refusal or a failed write reaches only the caller that made it."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, func, insert, select
from sqlalchemy.exc import IntegrityError

from solder.errors import NotFound
from solder.store.batch import GroupCommit
from solder.store.tables import users
from solder.store.types import utcnow


@pytest.fixture
def commits(engine: Engine) -> list[int]:
    """One entry per COMMIT the engine makes."""
    seen: list[int] = []
    event.listen(engine, "commit", lambda _conn: seen.append(1))
    return seen


def add_user(name: str, user_id: str | None = None) -> Any:
    def write(conn: Connection) -> str:
        now = utcnow()
        conn.execute(
            insert(users).values(
                id=user_id or f"id-{name}", environment="development", username=name,
                created_at=now, updated_at=now,
            )
        )  # fmt: skip
        return name

    return write


def stored_names(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(users.c.username)).scalars())


def held_batch(group: GroupCommit, writes: list[Any]) -> list[Any]:
    """Submit ``writes`` while the commit thread is busy, so they all land in one batch."""
    entered, release = threading.Event(), threading.Event()

    def gate(conn: Connection) -> None:
        entered.set()
        assert release.wait(10)

    first = group.submit(gate)
    assert entered.wait(10)
    futures = [group.submit(w, refuses=(NotFound,)) for w in writes]
    release.set()
    first.result(10)
    return futures


def test_writes_queued_together_commit_together(engine: Engine, commits: list[int]) -> None:
    group = GroupCommit(engine)
    try:
        futures = held_batch(group, [add_user(f"user{i}") for i in range(50)])
        assert [f.result(10) for f in futures] == [f"user{i}" for i in range(50)]
    finally:
        group.close()
    assert stored_names(engine) == {f"user{i}" for i in range(50)}
    assert len(commits) == 2  # the gate's batch, then the fifty in one transaction


def test_a_refused_write_fails_only_its_caller(engine: Engine) -> None:
    def refuse(conn: Connection) -> None:
        raise NotFound("userId: no user 'nobody'", field="userId")

    group = GroupCommit(engine)
    try:
        futures = held_batch(group, [add_user("before"), refuse, add_user("after")])
        assert futures[0].result(10) == "before"
        with pytest.raises(NotFound, match="nobody"):
            futures[1].result(10)
        assert futures[2].result(10) == "after"
    finally:
        group.close()
    assert stored_names(engine) == {"before", "after"}


def test_a_write_the_database_rejects_fails_only_its_caller(
    engine: Engine, commits: list[int]
) -> None:
    group = GroupCommit(engine)
    try:
        group.run(add_user("taken", user_id="same-id"))
        commits.clear()
        futures = held_batch(
            group, [add_user("one"), add_user("clash", user_id="same-id"), add_user("two")]
        )
        assert futures[0].result(10) == "one"
        with pytest.raises(IntegrityError):
            futures[1].result(10)
        assert futures[2].result(10) == "two"
    finally:
        group.close()
    assert stored_names(engine) == {"taken", "one", "two"}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(users)).scalar_one() == 3


def test_an_event_loop_awaits_its_write(engine: Engine) -> None:
    group = GroupCommit(engine)

    async def main() -> list[str]:
        futures = [asyncio.wrap_future(group.submit(add_user(f"a{i}"))) for i in range(20)]
        return list(await asyncio.gather(*futures))

    try:
        assert asyncio.run(main()) == [f"a{i}" for i in range(20)]
    finally:
        group.close()
    assert stored_names(engine) == {f"a{i}" for i in range(20)}


def test_a_write_whose_caller_gave_up_is_skipped_and_the_rest_go_on(engine: Engine) -> None:
    group = GroupCommit(engine)
    entered, release = threading.Event(), threading.Event()

    def gate(conn: Connection) -> None:
        entered.set()
        assert release.wait(10)

    try:
        first = group.submit(gate)
        assert entered.wait(10)
        abandoned = group.submit(add_user("abandoned"))
        kept = group.submit(add_user("kept"))
        assert abandoned.cancel()  # e.g. the request's task was cancelled while it waited
        release.set()
        first.result(10)
        assert kept.result(10) == "kept"
        assert group.run(add_user("later")) == "later"  # the commit thread is still there
    finally:
        group.close()
    assert stored_names(engine) == {"kept", "later"}
