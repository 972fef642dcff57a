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


def test_coroutines_share_a_batch_and_each_gets_its_own_outcome(
    engine: Engine, commits: list[int]
) -> None:
    """``run_async``: one transaction for the batch, each coroutine its result or its error,
    ``then`` called with the outcome before the coroutine resumes, one wake-up per batch."""

    def refuse(conn: Connection) -> None:
        raise NotFound("userId: no user 'nobody'", field="userId")

    group = GroupCommit(engine)
    entered, release = threading.Event(), threading.Event()
    seen_then: dict[int, tuple[Any, Any]] = {}

    def gate(conn: Connection) -> None:
        entered.set()
        assert release.wait(10)

    async def one(i: int, write: Any) -> Any:
        def then(result: Any, error: BaseException | None) -> None:
            seen_then[i] = (result, type(error).__name__ if error else None)

        try:
            result = await group.run_async(write, refuses=(NotFound,), then=then)
        except NotFound as exc:
            result = f"refused: {exc.field}"
        except IntegrityError:
            result = "rejected by the database"
        assert i in seen_then  # the follow-up ran before this coroutine was resumed
        return result

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        wakes = 0
        plain = loop.call_soon_threadsafe

        def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal wakes
            wakes += 1
            return plain(*args, **kwargs)

        loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
        first = group.submit(gate)
        assert entered.wait(10)
        writes = [add_user("a"), refuse, add_user("b"), add_user("c", user_id="id-a")]
        tasks = [asyncio.create_task(one(i, w)) for i, w in enumerate(writes)]
        await asyncio.sleep(0.2)  # all four queued behind the gate
        commits.clear()
        release.set()
        first.result(10)
        results = list(await asyncio.gather(*tasks))
        assert wakes == 1  # the batch failed (the clash) and each write ran alone: one wake-up
        return results

    try:
        results = asyncio.run(main())
    finally:
        group.close()
    assert results == ["a", "refused: userId", "b", "rejected by the database"]
    assert seen_then == {0: ("a", None), 1: (None, "NotFound"), 2: ("b", None),
                         3: (None, "IntegrityError")}  # fmt: skip
    assert stored_names(engine) == {"a", "b"}


def test_a_coroutine_that_gave_up_before_its_batch_is_not_written(engine: Engine) -> None:
    group = GroupCommit(engine)
    entered, release = threading.Event(), threading.Event()

    def gate(conn: Connection) -> None:
        entered.set()
        assert release.wait(10)

    async def main() -> str:
        first = group.submit(gate)
        assert entered.wait(10)
        abandoned = asyncio.create_task(group.run_async(add_user("abandoned")))
        kept = asyncio.create_task(group.run_async(add_user("kept")))
        await asyncio.sleep(0.1)
        abandoned.cancel()  # the request's task was cancelled while it waited
        await asyncio.sleep(0.1)
        release.set()
        first.result(10)
        return await kept

    try:
        assert asyncio.run(main()) == "kept"
    finally:
        group.close()
    assert stored_names(engine) == {"kept"}
