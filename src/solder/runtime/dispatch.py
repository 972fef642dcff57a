"""Telling workers that runs are ready: in-process, or through a broker with Celery.

The database is the queue of record: every run is stored (queued, with the time it is due)
before anyone is told about it, and a worker must claim it there (a fenced compare-and-set)
before running it. A dispatch is only a message that makes a worker look now:

* embedded (one process): ``LocalDispatcher`` wakes the in-process worker pool, which also
  polls the store every ``engine.poll_interval``; for a custom event it can do better and hand
  the runs over already claimed (``Handoff``);
* scaled out (``broker_url`` set): ``CeleryDispatcher`` sends one Celery task per run to the
  broker (RabbitMQ or Redis); a retry or a delay is sent with an ETA. A message lost to a
  broker restart only delays its run: the sweeper in every worker process re-sends runs that
  are overdue or whose lease lapsed (``solder.runtime.distributed``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from solder.store.types import utcnow

if TYPE_CHECKING:
    from celery import Celery

    from solder.store.runs import Accepted

log = logging.getLogger("solder.dispatch")

RUN_TASK = "solder.run"
LONGEST_ETA = timedelta(minutes=10)
"""Runs due later than this are not sent with an ETA: a worker holds an ETA message
unacknowledged until it is due, and RabbitMQ closes a channel that holds one past its
``consumer_timeout`` (30 minutes by default). The sweeper sends them when they come due."""


class Dispatcher(Protocol):
    blocks: bool
    """Whether ``ready`` does network I/O (an event loop must call it from a thread)."""

    def ready(self, run_ids: Sequence[str]) -> None:
        """These runs were just stored (committed) and are due now."""

    def later(self, run_id: str, at: datetime) -> None:
        """This run was put back in the queue, due at ``at``."""

    def handoff(self, lease: timedelta) -> Handoff | None:
        """Places for runs to be claimed as they are stored (None: no executors here)."""

    def close(self) -> None: ...


class Executors(Protocol):
    """This process's worker pool, as far as handing it claimed runs goes."""

    owner: str

    def reserve(self, wanted: int) -> int: ...

    def hand_over(self, claimed: list[tuple[str, int]], reserved: int) -> None: ...


@dataclass
class Handoff:
    """Places in this process's executors for the runs one event makes, claimed at once.

    The event's write asks ``take(n)`` for places and stores that many of its runs as running
    under ``owner``'s lease (fence 1); when the write's outcome is known, ``settle`` queues
    those runs for the executors (or, if the write failed, frees the places). A write that is
    run again (its batch failed) gets the same places again.
    """

    executors: Executors
    owner: str
    lease: timedelta
    reserved: int | None = None

    def take(self, wanted: int) -> int:
        if self.reserved is None:
            self.reserved = self.executors.reserve(wanted)
        return min(self.reserved, wanted)

    def settle(self, accepted: Accepted | None, error: BaseException | None) -> None:
        """The write's outcome (``GroupCommit.run_async``'s ``then``), in the commit thread."""
        claimed: list[tuple[str, int]] = []
        if error is None and accepted is not None:
            claimed = [(run_id, 1) for run_id in accepted.run_ids[: accepted.claimed]]
        self.executors.hand_over(claimed, self.reserved or 0)


class LocalDispatcher:
    """Wakes this process's worker pool (which finds due runs in the store)."""

    blocks = False

    def __init__(self, wakeup: threading.Event) -> None:
        self.wakeup = wakeup
        self.executors: Executors | None = None
        """Set while a worker pool runs in this process."""

    def handoff(self, lease: timedelta) -> Handoff | None:
        executors = self.executors
        return None if executors is None else Handoff(executors, executors.owner, lease)

    def ready(self, run_ids: Sequence[str]) -> None:
        if run_ids:
            self.wakeup.set()

    def later(self, run_id: str, at: datetime) -> None:
        """The pool polls the store, so it finds the run when it is due."""

    def close(self) -> None:
        pass


class CeleryDispatcher:
    """Sends ``solder.run(run_id)`` tasks to the broker; publishing failures are logged only.

    A failed publish loses nothing (the run is in the store and the sweeper will send it), so
    it must not fail the API request that stored the run.
    """

    blocks = True

    def handoff(self, lease: timedelta) -> Handoff | None:
        return None  # the runs go through the broker to whichever worker takes them

    def __init__(self, app: Celery) -> None:
        self.app = app

    def ready(self, run_ids: Sequence[str]) -> None:
        if not run_ids:
            return
        try:
            with self.app.producer_or_acquire() as producer:
                for run_id in run_ids:
                    self.app.send_task(RUN_TASK, args=[run_id], producer=producer)
        except Exception:  # the sweeper re-sends what was not published
            log.warning("could not publish %d runs; the sweeper will", len(run_ids),
                        exc_info=True)  # fmt: skip

    def later(self, run_id: str, at: datetime) -> None:
        if at - utcnow() > LONGEST_ETA:
            return
        try:
            self.app.send_task(RUN_TASK, args=[run_id], eta=at)
        except Exception:  # the sweeper re-sends what was not published
            log.warning("could not publish run %s; the sweeper will", run_id, exc_info=True)

    def close(self) -> None:
        pool = self.app.pool
        pool.force_close_all()
