"""The in-process worker pool: threads that claim runs from the store and execute them.

The database is the queue of record. ``Services.wakeup`` is only a nudge after new runs are
stored; without it a worker still finds due work within ``engine.poll_interval``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import timedelta

from solder.engine.runner import RunExecution
from solder.runtime.services import Services
from solder.store import runs
from solder.store.runs import LeaseLost
from solder.store.types import utcnow

log = logging.getLogger("solder.worker")


class WorkerPool:
    def __init__(self, services: Services, threads: int | None = None) -> None:
        self.services = services
        self.threads = threads or services.settings.engine.workers
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._pool: list[threading.Thread] = []
        self._last_purge: float | None = None  # monotonic time; None: not yet this process

    def start(self) -> None:
        if self.services.embedded:
            with self.services.engine.begin() as conn:
                freed = runs.release_all_leases(conn)
            if freed:
                log.info("resuming %d runs left running by the last process", freed)
        for i in range(self.threads):
            thread = threading.Thread(target=self._loop, name=f"solder-worker-{i}", daemon=True)
            thread.start()
            self._pool.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.services.wakeup.set()
        for thread in self._pool:
            thread.join(timeout)
        self._pool.clear()

    def _loop(self) -> None:
        poll = self.services.settings.engine.poll_interval
        while not self._stop.is_set():
            try:
                worked = self.step()
            except Exception:  # keep the worker alive; the run stays claimable
                log.exception("worker step failed")
                worked = False
            if not worked:
                self.services.wakeup.wait(poll)
                self.services.wakeup.clear()

    def step(self) -> bool:
        """Claim and execute one due run; False when there was none."""
        lease = timedelta(seconds=self.services.settings.engine.lease_seconds)
        self._housekeeping()
        with self.services.reader.connect() as conn:
            candidates = runs.claimable(conn, utcnow(), self.threads * 2)
        for candidate in candidates:
            with self.services.engine.begin() as conn:
                fence = runs.claim(conn, candidate.id, candidate.fence, self.owner, lease)
            if fence is None:
                continue
            try:
                RunExecution(self.services, candidate.id, fence).execute()
            except LeaseLost:
                log.warning("lost the lease of run %s; another worker has it", candidate.id)
            return True
        return False

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if self._last_purge is not None and now - self._last_purge < 3600:
            return
        self._last_purge = now
        days = self.services.settings.log_retention_days
        with self.services.engine.begin() as conn:
            purged = runs.purge_older_than(conn, utcnow() - timedelta(days=days))
        if purged:
            log.info("retention: purged %d runs older than %d days", purged, days)
