"""Group commit: many callers' small writes share one transaction, each still durable.

Every accepted event must be stored before its response goes back, and on SQLite each commit
is an fsync (about 2,000 a second on this class of machine), while one commit of a hundred
rows costs about the same as one of a single row. ``GroupCommit.run(write)`` queues the write
and blocks until the transaction holding it has committed (``submit`` returns a future
instead, for callers on an event loop). One thread per process takes whatever is queued, runs
the writes one after another in one transaction and commits them together. While one batch
commits, the next one gathers: the busier the server, the bigger the batches, with no added
wait when it is idle.

Callers on an event loop await ``run_async``: their writes carry no thread-safe future, and
after each commit the thread wakes each loop once for all of that loop's writes in the batch
(one ``call_soon_threadsafe`` per batch instead of a future, a condition and a wake-up per
write, which is what ``asyncio.wrap_future`` costs).

A write may declare the errors by which it refuses its request (``refuses``: no such user, a
bad payload), and must raise those before it writes anything: its caller gets the error and
the others' writes go on in the same transaction. Any other failure (a constraint the
database enforces, a lost lease, a lost connection) rolls the batch back, and then each write
runs again alone, in a transaction of its own, so one bad write fails only its own caller.
No savepoints: on PostgreSQL each costs two more round trips per write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

log = logging.getLogger("solder.store")

T = TypeVar("T")


Then = Callable[[Any, BaseException | None], None]
"""``then(result, error)``: called in the commit thread once a write's outcome is known."""


class _Write:
    __slots__ = ("future", "refuses", "settled", "then", "waiter", "write")

    def __init__(
        self,
        write: Callable[[Connection], Any],
        refuses: tuple[type[Exception], ...],
        waiter: asyncio.Future[Any] | None = None,
        then: Then | None = None,
    ) -> None:
        self.write = write
        self.refuses = refuses
        self.waiter = waiter
        """Set for ``run_async`` callers, instead of ``future``; settled on its own loop."""
        self.future: Future[Any] | None = None if waiter is not None else Future()
        self.then = then
        self.settled = False

    def start(self) -> bool:
        """False when the caller gave up before the batch took the write (skip it)."""
        if self.waiter is not None:
            return not self.waiter.cancelled()  # read across threads: at worst written anyway
        assert self.future is not None
        return self.future.set_running_or_notify_cancel()


def _wake(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    """On the loop's thread: settle every waiter of one batch."""
    for waiter, result, error in outcomes:
        if waiter.cancelled():
            continue
        if error is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(result)


class GroupCommit:
    def __init__(self, engine: Engine, *, max_batch: int = 500) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def run(
        self, write: Callable[[Connection], T], *, refuses: tuple[type[Exception], ...] = ()
    ) -> T:
        """Run ``write`` in a shared transaction; return its result once committed."""
        result: T = self.submit(write, refuses=refuses).result()
        return result

    def submit(
        self, write: Callable[[Connection], T], *, refuses: tuple[type[Exception], ...] = ()
    ) -> Future[T]:
        """Queue ``write``; the future holds its result (or error) once the batch committed.

        ``refuses``: the errors ``write`` raises before writing anything (see above).
        """
        self._ensure_thread()
        item = _Write(write, refuses)
        self._queue.put(item)
        assert item.future is not None
        return item.future

    async def run_async(
        self,
        write: Callable[[Connection], T],
        *,
        refuses: tuple[type[Exception], ...] = (),
        then: Then | None = None,
    ) -> T:
        """``run`` for a coroutine: its result once the batch holding it committed.

        ``then(result, error)`` runs in the commit thread as soon as the outcome is known
        (before the loop is woken), e.g. to hand runs the write claimed to executors.
        """
        self._ensure_thread()
        waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put(_Write(write, refuses, waiter, then))
        return await waiter

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(10)
            self._thread = None

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="solder-group-commit", daemon=True
                )
                self._thread.start()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch: list[_Write] = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            # A caller that gave up (its future cancelled, e.g. an event loop's task) is
            # skipped, and the others' futures can no longer be cancelled from here on.
            batch = [item for item in batch if item.start()]
            woken: dict[asyncio.AbstractEventLoop, list[Any]] = {}
            try:
                if batch:
                    self._commit(batch, woken)
            except Exception as exc:  # the loop must outlive any one batch
                log.exception("group commit failed unexpectedly")
                for item in batch:
                    if not item.settled:
                        self._settle(item, None, exc, woken)
            for loop, outcomes in woken.items():
                # a loop closed meanwhile raises RuntimeError: nobody waits on it any more
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_wake, outcomes)
            if stop:
                return

    @staticmethod
    def _settle(
        item: _Write,
        result: Any,
        error: BaseException | None,
        woken: dict[asyncio.AbstractEventLoop, list[Any]],
    ) -> None:
        item.settled = True
        if item.then is not None:
            try:
                item.then(result, error)
            except Exception:  # a hand-over must not keep the others from their answers
                log.exception("a write's follow-up failed")
        if item.waiter is not None:
            woken.setdefault(item.waiter.get_loop(), []).append((item.waiter, result, error))
            return
        assert item.future is not None
        if error is not None:
            item.future.set_exception(error)
        else:
            item.future.set_result(result)

    def _commit(
        self, batch: list[_Write], woken: dict[asyncio.AbstractEventLoop, list[Any]]
    ) -> None:
        results: list[tuple[_Write, Any, BaseException | None]] = []
        try:
            with self.engine.begin() as conn:
                for item in batch:
                    try:
                        results.append((item, item.write(conn), None))
                    except Exception as exc:
                        if not isinstance(exc, item.refuses):
                            raise
                        results.append((item, None, exc))  # nothing written: the others go on
        except Exception as exc:  # noqa: BLE001 - the batch is undone; see below
            if len(batch) > 1:
                log.info("group commit of %d writes failed (%s); each runs alone", len(batch), exc)
                for item in batch:
                    self._commit([item], woken)
                return
            log.warning("write failed: %s", exc)
            self._settle(batch[0], None, exc, woken)
            return
        for item, result, error in results:
            self._settle(item, result, error, woken)
