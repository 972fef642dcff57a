"""Group commit: many callers' small writes share one transaction, each still durable.

Every accepted event must be stored before its response goes back, and on SQLite each commit
is an fsync (about 2,000 a second on this class of machine), while one commit of a hundred
rows costs about the same as one of a single row. ``GroupCommit.run(write)`` queues the write
and blocks until the transaction holding it has committed. One thread per process takes
whatever is queued, runs each write inside its own SAVEPOINT (so one write's error undoes
only that write and is raised to its own caller), and commits them together. While one batch
commits, the next one gathers: the busier the server, the bigger the batches, with no added
wait when it is idle.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine

log = logging.getLogger("solder.store")

T = TypeVar("T")


class _Write(Generic[T]):
    __slots__ = ("done", "error", "result", "write")

    def __init__(self, write: Callable[[Connection], T]) -> None:
        self.write = write
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None


class GroupCommit:
    def __init__(self, engine: Engine, *, max_batch: int = 500) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Write[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def run(self, write: Callable[[Connection], T]) -> T:
        """Run ``write`` in a shared transaction; return its result once committed."""
        self._ensure_thread()
        item = _Write(write)
        self._queue.put(item)
        item.done.wait()
        if item.error is not None:
            raise item.error
        return item.result  # type: ignore[return-value]

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
            batch: list[_Write[Any]] = [first]
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
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Write[Any]]) -> None:
        try:
            with self.engine.begin() as conn:
                for item in batch:
                    try:
                        with conn.begin_nested():
                            item.result = item.write(conn)
                    except Exception as exc:  # noqa: BLE001 - delivered to its own caller
                        item.error = exc
        except Exception as exc:  # noqa: BLE001 - the commit failed: every caller learns it
            log.warning("group commit of %d writes failed: %s", len(batch), exc)
            for item in batch:
                if item.error is None:
                    item.error = exc
                    item.result = None
        finally:
            for item in batch:
                item.done.set()
