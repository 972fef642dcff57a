"""Prometheus metrics of one Solder process, kept in a registry of its own.

Two kinds, told apart by where the number lives:

* recorded as things happen (block durations, deliveries, accepted events): counters and a
  histogram in this process's memory, fed by the engine through :class:`Metrics`. Each process
  exposes its own; Prometheus adds them up.
* read from the store when scraped (runs by status, backlog, the oldest due run): the queue is
  the database, so every process reports the same, true numbers. One query per scrape.

The registry is private (never ``prometheus_client.REGISTRY``): one process may hold several
``Services``, as the tests do, and each gets its own :class:`Metrics`.

The engine reaches the instance the ``/metrics`` endpoint serves with :func:`metrics_of`.
Recording is cheap: a dictionary look-up, then the child metric's own lock; label values are
checked once per combination, when it is first used.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Generic, Literal, TypeVar, get_args

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from sqlalchemy import Connection, Engine, case, func, select
from sqlalchemy.exc import SQLAlchemyError

from solder.store.db import reader
from solder.store.tables import runs
from solder.store.types import utcnow

if TYPE_CHECKING:
    from solder.runtime.services import Services

log = logging.getLogger("solder.metrics")

BlockOutcome = Literal["succeeded", "failed", "retrying"]
DeliveryKind = Literal["stream_data", "http", "app_action", "error_stream"]
DeliveryOutcome = Literal["ok", "retry", "failed"]
EventSource = Literal["custom_event", "webhook", "app_webhook", "run_workflow"]

# 0.5 ms (a mapping step) to 30 s (the default outbound timeout), about 2.5x apart.
DURATION_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
# Always exported, at 0 when no run has the status, so a series never vanishes.
RUN_STATUSES = ("queued", "running", "succeeded", "failed")

BLOCK_LABELS = ("block_type", "app", "outcome")
DELIVERY_LABELS = ("kind", "app", "outcome")
ACCEPTED_LABELS = ("source",)

M = TypeVar("M", bound=MetricWrapperBase)


class _Children(Generic[M]):
    """The label children of one metric, bound once per combination of label values.

    ``labels()`` takes the metric's lock and re-checks its arguments on every call; a bound
    child is a plain dictionary hit. Labels named in ``allowed`` must hold one of the given
    values, checked the first time a combination is seen.
    """

    def __init__(
        self, metric: M, labelnames: tuple[str, ...], allowed: dict[str, frozenset[str]]
    ) -> None:
        self._metric = metric
        self._checks = [
            (i, name, allowed[name]) for i, name in enumerate(labelnames) if name in allowed
        ]
        self._bound: dict[tuple[str, ...], M] = {}

    def __call__(self, *values: str) -> M:
        child = self._bound.get(values)
        if child is None:
            for i, name, allowed in self._checks:
                if values[i] not in allowed:
                    raise ValueError(f"{name}: {values[i]!r} is not one of {sorted(allowed)}")
            child = self._bound[values] = self._metric.labels(*values)
        return child


class Metrics:
    """What the engine records, plus the gauges read from the store (:meth:`watch_store`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self._blocks = _Children(
            Histogram(
                "solder_block_duration_seconds",
                "Time one attempt of a block took, by block type, app and outcome.",
                BLOCK_LABELS,
                buckets=DURATION_BUCKETS,
                registry=self.registry,
            ),
            BLOCK_LABELS,
            {"outcome": frozenset(get_args(BlockOutcome))},
        )
        self._deliveries = _Children(
            Counter(
                "solder_deliveries",
                "Outbound requests made by blocks, by kind, app and outcome.",
                DELIVERY_LABELS,
                registry=self.registry,
            ),
            DELIVERY_LABELS,
            {
                "kind": frozenset(get_args(DeliveryKind)),
                "outcome": frozenset(get_args(DeliveryOutcome)),
            },
        )
        self._accepted = _Children(
            Counter(
                "solder_events_accepted",
                "Events stored for running, by where they came from.",
                ACCEPTED_LABELS,
                registry=self.registry,
            ),
            ACCEPTED_LABELS,
            {"source": frozenset(get_args(EventSource))},
        )
        self._store: StoreCollector | None = None
        self._store_lock = threading.Lock()

    def block_finished(
        self, block_type: str, app: str | None, outcome: BlockOutcome, seconds: float
    ) -> None:
        self._blocks(block_type, app or "", outcome).observe(seconds)

    def delivery(self, kind: DeliveryKind, app: str | None, outcome: DeliveryOutcome) -> None:
        self._deliveries(kind, app or "", outcome).inc()

    def accepted(self, source: EventSource, n: int = 1) -> None:
        self._accepted(source).inc(n)

    @property
    def watching(self) -> bool:
        return self._store is not None

    def watch_store(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow) -> None:
        """Serve the gauges read from ``engine`` at scrape time (replacing any earlier store)."""
        with self._store_lock:
            if self._store is not None:
                self.registry.unregister(self._store)
            self._store = StoreCollector(engine, clock)
            self.registry.register(self._store)


@dataclass(frozen=True)
class QueueStats:
    by_status: dict[str, int]
    backlog: int
    oldest_due: datetime | None


def queue_stats(conn: Connection, now: datetime) -> QueueStats:
    """Runs by status, and the queued runs already due (the backlog), in one query."""
    due = (runs.c.status == "queued") & (runs.c.next_attempt_at <= now)
    q = select(
        runs.c.status,
        func.count(),
        func.sum(case((due, 1), else_=0)),
        func.min(
            case((due, runs.c.next_attempt_at), else_=None), type_=runs.c.next_attempt_at.type
        ),
    ).group_by(runs.c.status)
    by_status = dict.fromkeys(RUN_STATUSES, 0)
    backlog, oldest = 0, None
    for status, count, waiting, first in conn.execute(q):
        by_status[status] = int(count)
        backlog += int(waiting or 0)
        if first is not None:
            oldest = first if oldest is None or first < oldest else oldest
    return QueueStats(by_status, backlog, oldest)


class StoreCollector:
    """Gauges read from the store when scraped: the same true numbers in every process."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self._engine = reader(engine)
        self._clock = clock

    def describe(self) -> Iterator[Metric]:
        return iter(_families())

    def collect(self) -> Iterator[Metric]:
        up, runs_family, backlog, oldest = _families()
        now = self._clock()
        try:
            with self._engine.connect() as conn:
                stats = queue_stats(conn, now)
        except SQLAlchemyError:
            log.warning("metrics: the store did not answer", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for status, count in sorted(stats.by_status.items()):
            runs_family.add_metric([status], count)
        backlog.add_metric([], stats.backlog)
        waited = (now - stats.oldest_due).total_seconds() if stats.oldest_due else 0.0
        oldest.add_metric([], max(0.0, waited))
        yield from (up, runs_family, backlog, oldest)


def _families() -> tuple[GaugeMetricFamily, ...]:
    return (
        GaugeMetricFamily("solder_store_up", "1 when the store answered this scrape."),
        GaugeMetricFamily("solder_runs", "Runs in the store by status.", labels=["status"]),
        GaugeMetricFamily("solder_backlog", "Queued runs that are due and not yet claimed."),
        GaugeMetricFamily(
            "solder_oldest_queued_seconds", "How long the oldest due queued run has waited."
        ),
    )


def metrics_of(services: Services) -> Metrics:
    """The :class:`Metrics` of ``services``, watching its store; the API and engine share it."""
    if not services.metrics.watching:
        services.metrics.watch_store(services.engine)
    return services.metrics
