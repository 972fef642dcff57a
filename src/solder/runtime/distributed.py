"""The scaled-out tier: ``solder worker`` processes fed by Celery over a broker.

With ``SOLDER_BROKER_URL`` set (RabbitMQ ``amqp://...`` or Redis ``redis://...``) and the store
on PostgreSQL, any number of ``solder serve`` (API) and ``solder worker`` processes run on any
number of machines:

* the API stores each event with its runs, commits, then sends one ``solder.run`` task per
  run (``CeleryDispatcher``);
* a worker's task claims its run in the store (fenced; a duplicate or late message finds the
  run taken or finished and does nothing), executes it, and when the run went back to the
  queue (a retry or a delay) sends it again with an ETA;
* tasks are acknowledged after they ran (``acks_late``) and given back if the worker process
  dies, so a message is not lost with a worker; a run whose worker died is also found again
  when its lease lapses;
* every worker process runs the sweeper: runs that are overdue (their message was lost, or
  they were due later than an ETA is used for) or whose lease lapsed are sent again. A broker
  restart therefore delays work but loses none;
* every worker process runs the background loop (schedules, polls, the error stream,
  retention); each of those takes its rows by compare-and-set, so each tick fires once.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import timedelta
from typing import Any

from celery import Celery
from sqlalchemy import and_, or_, select

from solder.config import Settings
from solder.engine.runner import RunExecution
from solder.engine.worker import WorkerPool
from solder.runtime.dispatch import RUN_TASK, CeleryDispatcher
from solder.runtime.services import Services
from solder.store import runs
from solder.store.runs import LeaseLost
from solder.store.tables import runs as runs_table
from solder.store.types import utcnow

log = logging.getLogger("solder.distributed")

OVERDUE = timedelta(seconds=10)
"""How long a due run may wait unclaimed before the sweeper sends it again."""


def make_celery(broker_url: str, queue: str) -> Celery:
    app = Celery("solder", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=4,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        broker_connection_retry_on_startup=True,
        worker_enable_remote_control=False,
        broker_transport_options={"confirm_publish": True},
    )
    return app


class RunTask:
    """The body of ``solder.run``: claim one run by id and execute it."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.owner = f"{socket.gethostname()}:{os.getpid()}"

    def __call__(self, run_id: str) -> str:
        lease = timedelta(seconds=self.services.settings.engine.lease_seconds)
        now = utcnow()
        with self.services.engine.begin() as conn:
            row = runs.get_run(conn, run_id)
            if row is None or row.status in runs.TERMINAL:
                return "gone"
            if row.status == "queued" and row.next_attempt_at > now:
                return "not due"  # a duplicate message; the due one is on its way
            if row.status == "running" and row.lease_expires_at >= now:
                return "taken"
            fence = runs.claim(conn, run_id, row.fence, self.owner, lease)
        if fence is None:
            return "taken"
        try:
            status = RunExecution(self.services, run_id, fence).execute()
        except LeaseLost:
            return "lost"
        if status == "queued":
            with self.services.reader.connect() as conn:
                again = runs.get_run(conn, run_id)
            if again is not None and again.status == "queued":
                self.services.dispatch.later(run_id, again.next_attempt_at)
        return status


class Sweeper:
    """Runs :func:`sweep` at most every ``every`` seconds (it is called on each loop pass)."""

    def __init__(self, services: Services, every: float = 5.0) -> None:
        self.services = services
        self.every = every
        self.last = 0.0

    def __call__(self) -> int:
        now = time.monotonic()
        if now - self.last < self.every:
            return 0
        self.last = now
        sweep(self.services)
        return 0  # sweeping is no reason to skip the loop's pause


def sweep(services: Services, limit: int = 500) -> int:
    """Send again the runs that are overdue or whose lease lapsed; return how many."""
    now = utcnow()
    q = (
        select(runs_table.c.id)
        .where(
            or_(
                and_(
                    runs_table.c.status == "queued", runs_table.c.next_attempt_at <= now - OVERDUE
                ),
                and_(runs_table.c.status == "running", runs_table.c.lease_expires_at < now),
            )
        )
        .order_by(runs_table.c.next_attempt_at)
        .limit(limit)
    )
    with services.reader.connect() as conn:
        found = [str(r.id) for r in conn.execute(q)]
    if found:
        log.info("sweeper: sending %d overdue runs again", len(found))
        services.dispatch.ready(found)
    return len(found)


def attach(services: Services) -> Celery:
    """Make ``services`` dispatch through Celery (``settings.broker_url``); return the app."""
    settings = services.settings
    assert settings.broker_url is not None
    app = make_celery(settings.broker_url.get_secret_value(), settings.broker_queue)
    services.dispatch = CeleryDispatcher(app)
    return app


def run_worker(
    settings: Settings,
    *,
    concurrency: int | None = None,
    metrics: tuple[str, int] | None = None,
) -> None:
    """``solder worker``: Celery consuming ``solder.run`` with threads, plus the background loop.

    ``metrics``: ``(host, port)`` to serve this process's Prometheus metrics on (the blocks'
    durations and deliveries are counted where the blocks run: here).
    """
    from solder import logs
    from solder.runtime import services as services_mod

    logs.setup(json_output=settings.log_json)
    if settings.broker_url is None:
        raise SystemExit("solder worker needs SOLDER_BROKER_URL (e.g. amqp://guest:guest@host//)")
    if settings.database_url.startswith("sqlite"):
        raise SystemExit(
            "solder worker needs a shared store: set SOLDER_DATABASE_URL to PostgreSQL"
        )
    services = services_mod.build(settings)
    if metrics is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics[1], addr=metrics[0], registry=services.metrics.registry)
        log.info("solder worker: metrics at http://%s:%d/metrics", metrics[0], metrics[1])
    app = attach(services)
    execute = RunTask(services)

    @app.task(name=RUN_TASK, acks_late=True)  # type: ignore[untyped-decorator]
    def run(run_id: str) -> str:
        return execute(run_id)

    pool = WorkerPool(services, threads=0, sweeper=Sweeper(services))
    pool.start()
    threads = concurrency or settings.engine.workers
    log.info("solder worker: %d threads on %s", threads, _shown(settings))
    try:
        worker: Any = app.Worker(
            pool="threads",
            concurrency=threads,
            queues=[settings.broker_queue],
            loglevel="WARNING",
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
            hostname=f"solder-{os.getpid()}@{socket.gethostname()}",
            quiet=True,
        )
        worker.start()
    finally:
        pool.stop()
        services.close()


def _shown(settings: Settings) -> str:
    url = settings.broker_url.get_secret_value() if settings.broker_url else ""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"
