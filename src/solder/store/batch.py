"""Group commit: many callers' small writes share one transaction, each still durable.

Every accepted event must be stored before its response goes back, and on SQLite each commit
is an fsync (about 2,000 a second on this class of machine), while one commit of a hundred
rows costs about the same as one of a single row. ``GroupCommit.run(write)`` queues the write
and blocks until the transaction holding it has committed (``submit`` returns a future
instead, for callers on an event loop). One thread per process takes whatever is queued, runs
the writes one after another in one transaction and commits them together. While one batch
commits, the next one gathers: the busier the server, the bigger the batches, with no added
wait when it is idle.

A write may declare the errors by which it refuses its request (``refuses``: no such user, a
bad payload), and must raise those before it writes anything: its caller gets the error and
the others' writes go on in the same transaction. Any other failure (a constraint the
database enforces, a lost lease, a lost connection) rolls the batch back, and then each write
runs again alone, in a transaction of its own, so one bad write fails only its own caller.
No savepoints: on PostgreSQL each costs two more round trips per write.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

log = logging.getLogger("solder.store")

T = TypeVar("T")


class _Write:
    __slots__ = ("future", "refuses", "write")

    def __init__(
        self, write: Callable[[Connection], Any], refuses: tuple[type[Exception], ...]
    ) -> None:
        self.write = write
        self.refuses = refuses
        self.future: Future[Any] = Future()


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
        return item.future

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
            batch = [item for item in batch if item.future.set_running_or_notify_cancel()]
            try:
                if batch:
                    self._commit(batch)
            except Exception as exc:  # the loop must outlive any one batch
                log.exception("group commit failed unexpectedly")
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
            if stop:
                return

    def _commit(self, batch: list[_Write]) -> None:
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
                    self._commit([item])
                return
            log.warning("write failed: %s", exc)
            batch[0].future.set_exception(exc)
            return
        for item, result, error in results:
            if error is not None:
                item.future.set_exception(error)
            else:
                item.future.set_result(result)
