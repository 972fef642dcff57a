"""The in-process worker pool: threads that claim runs from the store and execute them.

The database is the queue of record. ``Services.wakeup`` is only a nudge after new runs are
stored; without it a worker still finds due work within ``engine.poll_interval``.
"""

from __future__ import annotations

import heapq
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from sqlalchemy import Connection

from solder.engine import errorstream, reconcile, triggers
from solder.engine.runner import RunExecution
from solder.runtime.dispatch import LocalDispatcher
from solder.runtime.services import Services
from solder.store import runs
from solder.store.runs import LeaseLost
from solder.store.types import utcnow

log = logging.getLogger("solder.worker")


@dataclass
class Queued:
    """A claimed run waiting for an executor; the heartbeat renews its lease meanwhile."""

    run_id: str
    fence: int
    renewed: float  # monotonic time of the claim, then of the heartbeat's last renewal
    lease_seconds: float
    resumed: bool = False  # held for a retry: it has results of earlier attempts


class WorkerPool:
    """One claimer thread and ``threads`` executor threads.

    The claimer takes due runs in batches (one transaction for the batch) and hands them to the
    executors through a queue of ``capacity`` places, so executors do not race each other for
    the same rows and a burst of events costs one claim commit per batch rather than one per
    run.

    A run can also arrive claimed already: ``run/event`` reserves places (``reserve``), stores
    the runs it makes as running under this pool's lease in the same transaction as the event,
    and hands them over (``hand_over``) once that committed. No claim query, no claim commit,
    and no wait for the claimer to wake. Reserved places count as taken, so the queue never
    holds more than ``capacity`` claimed runs; the heartbeat keeps their leases while they
    wait, however slow the runs ahead of them are.

    A run whose block failed with a short backoff is held the same way (``reserve``, then
    ``hold``): it keeps its lease and a place, and the claimer queues it when it is due,
    with no claim on the way (``runner.Holder``).
    """

    def __init__(
        self,
        services: Services,
        threads: int | None = None,
        *,
        sweeper: Callable[[], int] | None = None,
    ) -> None:
        """``threads=0``: no executors, only the background loop (a ``solder worker``, whose
        runs come through the broker); ``sweeper`` joins the background loop's tasks."""
        self.services = services
        self.threads = services.settings.engine.workers if threads is None else threads
        self.sweeper = sweeper
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._pool: list[threading.Thread] = []
        self.capacity = max(1, self.threads * 16)
        self._queue: queue.Queue[Queued] = queue.Queue()
        self._places = threading.Lock()
        self._reserved = 0
        self._taken = threading.Event()
        self._held_changed = threading.Condition(self._places)
        self._held: list[tuple[float, int, Queued]] = []  # (due, tie-break, run), a heap
        self._held_count = 0
        self._last_purge: float | None = None  # monotonic time; None: not yet this process
        self._last_reconcile: float | None = None

    def start(self) -> None:
        if self.services.embedded:
            with self.services.engine.begin() as conn:
                freed = runs.release_all_leases(conn)
            if freed:
                log.info("resuming %d runs left running by the last process", freed)
        if self.threads and isinstance(self.services.dispatch, LocalDispatcher):
            self.services.dispatch.executors = self
        if self.threads:
            claimer = threading.Thread(target=self._claim_loop, name="solder-claimer", daemon=True)
            claimer.start()
            timer = threading.Thread(target=self._timer_loop, name="solder-timer", daemon=True)
            timer.start()
            self._pool += [claimer, timer]
        background = threading.Thread(
            target=self._background_loop, name="solder-background", daemon=True
        )
        background.start()
        self._pool.append(background)
        for i in range(self.threads):
            thread = threading.Thread(target=self._run_loop, name=f"solder-worker-{i}", daemon=True)
            thread.start()
            self._pool.append(thread)

    @property
    def running(self) -> bool:
        """Whether every thread of the pool is alive (false before start and after stop)."""
        return bool(self._pool) and all(t.is_alive() for t in self._pool)

    def stop(self, timeout: float = 10.0) -> None:
        dispatch = self.services.dispatch
        if isinstance(dispatch, LocalDispatcher) and dispatch.executors is self:
            dispatch.executors = None
        self._stop.set()
        self.services.wakeup.set()
        self._taken.set()
        with self._held_changed:
            self._held_changed.notify()
        for thread in self._pool:
            thread.join(timeout)
        self._pool.clear()
        self._release_unstarted()

    def _release_unstarted(self) -> None:
        """Runs claimed but not started go back to the queue at once, not when leases lapse
        (a held run is due at its retry time, as ``runs.retry_held`` stored)."""
        with self._places:
            left = [waiting for _, _, waiting in self._held]
            self._held.clear()
            self._reserved -= len(left)
        for waiting in left:
            self.services.heartbeat.unwatch(waiting)
        while True:
            try:
                left.append(self._dequeue(None))
            except queue.Empty:
                break
        if left:
            with self.services.engine.begin() as conn:
                for waiting in left:
                    runs.unclaim(conn, waiting.run_id, waiting.fence)

    def _claim_loop(self) -> None:
        poll = self.services.settings.engine.poll_interval
        while not self._stop.is_set():
            try:
                room = self._room()
                claimed = self.claim_batch(room) if room > 0 else []
            except Exception:  # keep claiming; the runs stay claimable
                log.exception("claiming runs failed")
                claimed = []
            for run_id, fence, claimed_at in claimed:
                self._enqueue(run_id, fence, claimed_at)
            if claimed:
                continue
            if room <= 0:
                self._taken.wait(poll)
                self._taken.clear()
            else:
                self.services.wakeup.wait(poll)
                self.services.wakeup.clear()

    def hold(self, waiting: Queued, due: float) -> None:
        """Keep a run in a place ``reserve`` gave until ``due`` (monotonic), then queue it."""
        self.services.heartbeat.watch(waiting)
        with self._held_changed:
            self._held_count += 1
            heapq.heappush(self._held, (due, self._held_count, waiting))
            if self._held[0][2] is waiting:  # the timer may sleep past it
                self._held_changed.notify()
        if self._stop.is_set():
            self._release_unstarted()

    def _timer_loop(self) -> None:
        """Queue each held run when it is due (its own thread: a claim's slow commit must
        not make a retry late)."""
        with self._held_changed:
            while not self._stop.is_set():
                now = time.monotonic()
                while self._held and self._held[0][0] <= now:
                    _, _, waiting = heapq.heappop(self._held)
                    self._queue.put_nowait(waiting)  # its place was reserved: no room needed
                    self._reserved -= 1
                pause = self._held[0][0] - now if self._held else None
                self._held_changed.wait(pause)

    def _room(self) -> int:
        """Free places in the queue (hold ``_places``, or accept a passing figure)."""
        return self.capacity - self._queue.qsize() - self._reserved

    def reserve(self, wanted: int) -> int:
        """Take up to ``wanted`` places in the queue for runs claimed elsewhere; how many."""
        if not self._pool or self._stop.is_set():
            return 0
        with self._places:
            got = max(0, min(wanted, self._room()))
            self._reserved += got
        return got

    def free(self, places: int) -> None:
        """Give back places ``reserve`` gave that no run will use."""
        with self._places:
            self._reserved -= places

    def hand_over(self, claimed: list[tuple[str, int]], reserved: int) -> None:
        """Queue runs claimed for this pool into places ``reserve`` gave; free the rest."""
        now = time.monotonic()
        with self._places:
            for run_id, fence in claimed:
                self._enqueue(run_id, fence, now)
            self._reserved -= reserved
        if self._stop.is_set():  # stopping: give back what no executor will take
            self._release_unstarted()

    def _enqueue(self, run_id: str, fence: int, claimed_at: float) -> None:
        waiting = Queued(run_id, fence, claimed_at, self.services.settings.engine.lease_seconds)
        self.services.heartbeat.watch(waiting)
        self._queue.put_nowait(waiting)

    def _dequeue(self, timeout: float | None) -> Queued:
        """The next waiting run (``timeout=None``: only if one is there already)."""
        waiting = self._queue.get(block=timeout is not None, timeout=timeout)
        self.services.heartbeat.unwatch(waiting)
        return waiting

    def claim_batch(self, limit: int) -> list[tuple[str, int, float]]:
        """Claim up to ``limit`` due runs in one transaction.

        Returns ``(run_id, fence, claimed_at)``, the last on the monotonic clock: a run that
        waits in the queue renews its lease before its first block if a third of it is gone.
        """
        lease = timedelta(seconds=self.services.settings.engine.lease_seconds)
        with self.services.reader.connect() as conn:
            candidates = runs.claimable(conn, utcnow(), limit)
        if not candidates:
            return []

        def claim_all(conn: Connection) -> list[tuple[str, int]]:
            claimed = []
            for candidate in candidates:
                fence = runs.claim(conn, candidate.id, candidate.fence, self.owner, lease)
                if fence is not None:
                    claimed.append((candidate.id, fence))
            return claimed

        claimed = self.services.commits.run(claim_all)  # shares a commit with other writes
        now = time.monotonic()
        return [(run_id, fence, now) for run_id, fence in claimed]

    def _run_loop(self) -> None:
        poll = self.services.settings.engine.poll_interval
        while not self._stop.is_set():
            try:
                waiting = self._dequeue(poll)
            except queue.Empty:
                continue
            self._taken.set()
            run_id, fence = waiting.run_id, waiting.fence
            try:
                # from the last renewal, the claim's or the heartbeat's while it waited
                execution = RunExecution(
                    self.services, run_id, fence, waiting.renewed, pipelined=True,
                    holder=self, resumed=waiting.resumed,
                )  # fmt: skip
                if execution.execute() == "held" and execution.due is not None:
                    lease = self.services.settings.engine.lease_seconds
                    again = Queued(run_id, fence, execution.renewed, lease, resumed=True)
                    self.hold(again, execution.due)
            except LeaseLost:
                log.warning("lost the lease of run %s; another worker has it", run_id)
            except Exception:  # keep the worker alive; the run is retried when its lease lapses
                log.exception("executing run %s failed", run_id)

    def _background_loop(self) -> None:
        """Schedules, polls, the error stream and retention, each pass."""
        poll = self.services.settings.engine.poll_interval
        tasks: list[tuple[str, Callable[[], int]]] = [("retention", self._housekeeping)]
        if self.services.settings.engine.background:
            tasks += [
                ("triggers", partial(triggers.run_due, self.services)),
                ("error stream", partial(errorstream.deliver_due, self.services)),
            ]
            tasks.append(("webhook reconciliation", self._reconcile))
        if self.sweeper is not None:
            tasks.append(("sweeper", self.sweeper))
        while not self._stop.is_set():
            busy = 0
            for name, task in tasks:
                try:
                    busy += task()
                except Exception:  # keep the loop alive; the rows stay due
                    log.exception("background task %s failed", name)
            if not busy:
                self._stop.wait(poll)

    def _reconcile(self) -> int:
        now = time.monotonic()
        every = self.services.settings.engine.reconcile_every
        if self._last_reconcile is not None and now - self._last_reconcile < every:
            return 0
        self._last_reconcile = now
        done = reconcile.reconcile(self.services)
        if any(done[k] for k in ("remade", "reactivated", "orphans", "errors")):
            log.info("webhook reconciliation: %s", done)
        return 0

    def _housekeeping(self) -> int:
        now = time.monotonic()
        if self._last_purge is not None and now - self._last_purge < 3600:
            return 0
        self._last_purge = now
        days = self.services.settings.log_retention_days
        with self.services.engine.begin() as conn:
            purged = runs.purge_older_than(conn, utcnow() - timedelta(days=days))
        if purged:
            log.info("retention: purged %d runs older than %d days", purged, days)
        return 0
