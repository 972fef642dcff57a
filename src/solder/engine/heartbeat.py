"""Keeping the leases of runs whose step is still working (a slow request, a long code block).

A run's lease is renewed when its steps commit, but one step can outlast the lease: a
receiver that takes 40 s against a 30 s lease. Without a heartbeat the run would look
abandoned, another executor would claim it and send the step again while the first request
is still out, and the first executor's commit would then be refused: the step would be sent
over and over and the run would never end.

One thread per process renews the lease of every run that is in the middle of a step, and of
every claimed run still waiting in the worker pool's queue, once a third of its lease has gone
by since the last renewal. A renewal is fenced like every other
write: a run that was taken by someone else anyway (its process stalled for a whole lease)
is dropped from the watch, and its executor finds out at its next commit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Protocol

from sqlalchemy import Engine

from solder.store import runs
from solder.store.runs import LeaseLost

log = logging.getLogger("solder.engine")


class Leased(Protocol):
    run_id: str
    fence: int
    renewed: float  # monotonic time of the last renewal

    @property
    def lease_seconds(self) -> float: ...


class Heartbeat:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._held: dict[int, Leased] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._next_look = float("inf")  # monotonic time the loop looks at the runs next
        self._thread: threading.Thread | None = None

    @contextmanager
    def hold(self, run: Leased) -> Iterator[None]:
        """Keep ``run``'s lease alive while the ``with`` body works."""
        self.watch(run)
        try:
            yield
        finally:
            self.unwatch(run)

    def watch(self, run: Leased) -> None:
        """Keep ``run``'s lease alive until ``unwatch`` (a claimed run waiting for an executor)."""
        with self._lock:
            self._held[id(run)] = run
            if run.renewed + run.lease_seconds / 3 < self._next_look:
                self._wake.set()  # the loop sleeps longer than this run's lease allows
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="solder-heartbeat", daemon=True
                )
                self._thread.start()

    def unwatch(self, run: Leased) -> None:
        with self._lock:
            self._held.pop(id(run), None)

    def _loop(self) -> None:
        while True:
            with self._lock:
                self._wake.clear()
                held = list(self._held.values())
                now = time.monotonic()
                shortest = min((r.lease_seconds for r in held), default=30.0)
                pause = max(0.05, shortest / 6)
                self._next_look = now + pause
            for run in held:
                if now - run.renewed > run.lease_seconds / 3:
                    self._renew(run)
            self._wake.wait(pause)

    def _renew(self, run: Leased) -> None:
        try:
            with self.engine.begin() as conn:
                runs.renew(conn, run.run_id, run.fence, _seconds(run.lease_seconds))
            run.renewed = time.monotonic()
        except LeaseLost:
            log.warning("run %s was taken by another worker during a step", run.run_id)
            with self._lock:
                self._held.pop(id(run), None)
        except Exception:  # a database hiccup: try again on the next beat
            log.warning("could not renew the lease of run %s", run.run_id, exc_info=True)


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
