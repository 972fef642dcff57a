"""Acceptance for destinations: a workflow writes 1,000 records, ``solder serve`` is SIGKILLed
halfway, a new one takes the run over, and the destination holds each record exactly once.

The workflow iterates over 100 chunks of 10 records; for each chunk it has one step per
destination (RabbitMQ, Redis Streams, NATS JetStream, then SQL on PostgreSQL and on MariaDB),
each sending the chunk's records in batches of 4, so the kill lands inside some step
with part of its batches through and between the others. Real processes and the machine's
servers. The store is the test's database (SQLite, or PostgreSQL in
the second pass).

What "exactly once" means per destination is its documented contract:

* Redis Streams and NATS JetStream: the stream holds 1,000 entries, one per record.
* RabbitMQ keeps no memory of message ids, so the step caught by the kill may be published
  again: exactly once **after deduplicating by message id**, as consumers are told to do.
  Each id must carry the same record every time it came.
* SQL: 1,000 rows, one per key (PostgreSQL with ``insert`` + ``keyColumns``, which skips rows
  already there; MariaDB with ``upsert``).
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, func, select, text
from sqlalchemy.exc import OperationalError

from tests.blockflow import Flow
from tests.buses import (
    NATS_URL,
    RABBITMQ_URL,
    REDIS_URL,
    jetstream,
    rabbit_exchange,
    records,
    redis_stream,
)
from tests.engine.test_sql import SERVERS
from tests.processes import Solder, client

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

RECORDS = 1000
CHUNK = 10
KILL_AT = 250  # records seen in the destination before the SIGKILL
SQL = SERVERS  # the databases and how to start them, as the SQL block's own tests use them


@dataclass
class Target:
    """Where the workflow writes: the step inside the iterate, and how to read it back."""

    block: dict[str, Any]
    connections: dict[str, str]  # destination connections by name
    sql: dict[str, str]  # SQL connections by name
    count: Callable[[], int]
    exactly_once: Callable[[], None]


def destination(kind: str, **inputs: Any) -> dict[str, Any]:
    return {
        "key": kind,
        "type": "destination",
        "destination": kind,
        "inputs": {"connection": kind, "messages": "{{ item }}", "batchSize": 4, **inputs},
    }


def ids_once(found: list[Any]) -> None:
    ids = collections.Counter(r["id"] for r in found)
    twice = {k: n for k, n in ids.items() if n != 1}
    assert twice == {}, f"records not there exactly once: {twice}"
    assert sorted(ids) == list(range(RECORDS))


@contextmanager
def rabbitmq_target() -> Iterator[Target]:
    with rabbit_exchange() as ex:
        drained: list[tuple[str, dict[str, Any], Any]] = []

        def exactly_once() -> None:
            drained.extend(ex.drain())
            bodies: dict[str, list[Any]] = collections.defaultdict(list)
            for mid, _, body in drained:
                bodies[mid].append(body)
            changed = {m: b for m, b in bodies.items() if any(x != b[0] for x in b)}
            assert changed == {}, "a message id came with different records"
            ids_once([b[0] for b in bodies.values()])  # deduplicated by message id

        yield Target(
            destination("rabbitmq", exchange=ex.name, routingKey=ex.routing_key),
            {"rabbitmq": RABBITMQ_URL},
            {},
            ex.count,
            exactly_once,
        )


@contextmanager
def redis_target() -> Iterator[Target]:
    with redis_stream() as stream:
        yield Target(
            destination("redis_streams", stream=stream.key),
            {"redis_streams": REDIS_URL},
            {},
            stream.count,
            lambda: ids_once([json.loads(e["data"]) for e in stream.entries()]),
        )


@contextmanager
def nats_target() -> Iterator[Target]:
    with jetstream() as js:
        yield Target(
            destination("nats_jetstream", subject=f"{js.prefix}.records"),
            {"nats_jetstream": NATS_URL},
            {},
            js.count,
            lambda: ids_once([body for _, body in js.messages()]),
        )


@contextmanager
def sql_target(kind: str) -> Iterator[Target]:
    url, start = SQL[kind]
    admin = create_engine(url.replace("postgresql://", "postgresql+psycopg://").replace(
        "mysql://", "mysql+pymysql://"))  # fmt: skip
    try:
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except OperationalError as exc:
        admin.dispose()
        message = f"{kind} is not reachable ({type(exc).__name__}); start it with: {start}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    table = Table(
        "solder_crash_" + secrets.token_hex(4),
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("name", String(40)),
    )
    table.create(admin)
    mode = "insert" if kind == "postgresql" else "upsert"

    def count() -> int:
        with admin.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def exactly_once() -> None:
        with admin.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(select(table))]
        ids_once(rows)
        assert all(r["name"] == f"record-{r['id']}" for r in rows)

    block = {
        "key": f"sql_{kind}",
        "type": "sql",
        "inputs": {"connection": kind, "table": str(table.name), "rows": "{{ item }}", "mode": mode,
                   "keyColumns": ["id"], "batchSize": 4},
    }  # fmt: skip
    try:
        yield Target(block, {}, {kind: url}, count, exactly_once)
    finally:
        table.drop(admin)
        admin.dispose()


def watch(target: Target, count: int, timeout: float, solder: Solder) -> None:
    """Return as soon as the destination holds ``count`` records (polled every 2 ms)."""
    deadline = time.monotonic() + timeout
    for polls in itertools.count():
        if target.count() >= count:
            return
        assert time.monotonic() < deadline, f"{target.count()} of {count} records in {timeout}s"
        if polls % 250 == 0:
            assert "run failed" not in solder.output(), "the run failed"
        time.sleep(0.002)


TARGETS: dict[str, Callable[[], Any]] = {
    "rabbitmq": rabbitmq_target,
    "redis_streams": redis_target,
    "nats_jetstream": nats_target,
    "sql-postgresql": lambda: sql_target("postgresql"),
    "sql-mariadb": lambda: sql_target("mariadb"),
}


def test_a_run_killed_halfway_and_taken_over_writes_each_record_once(
    tmp_path: Path, database_url: str
) -> None:
    """One workflow writes the records to every destination (five steps per chunk), so one
    kill and one takeover serve them all."""
    with ExitStack() as stack:
        targets = {name: stack.enter_context(make()) for name, make in TARGETS.items()}
        solder = Solder(tmp_path, database_url)
        buses = {k: v for t in targets.values() for k, v in t.connections.items()}
        databases = {k: v for t in targets.values() for k, v in t.sql.items()}
        solder.env["SOLDER_DESTINATION_CONNECTIONS"] = json.dumps(buses)
        solder.env["SOLDER_SQL_CONNECTIONS"] = json.dumps(databases)
        chunks = [records(RECORDS)[i : i + CHUNK] for i in range(0, RECORDS, CHUNK)]
        blocks = [
            {"key": "each", "type": "iterate", "inputs": {"items": "{{ trigger.chunks }}"},
             "blocks": [t.block for t in targets.values()]},
        ]  # fmt: skip
        first = next(iter(targets.values()))
        key = solder.run("keys", "create", "--env", "development").strip().splitlines()[-1]
        try:
            with solder.serve() as (url, proc), client(url, key) as api:
                flow = Flow(api, tmp_path / "flow", blocks).install()
                flow.fire({"chunks": chunks})
                watch(first, KILL_AT, timeout=120, solder=solder)
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
            time.sleep(0.2)  # what the dead process had in flight has landed by now
            at_kill = {name: t.count() for name, t in targets.items()}
            # the kill must land mid-way, or this test would prove nothing
            assert all(n < RECORDS for n in at_kill.values()), f"records when killed: {at_kill}"

            with solder.serve() as (url, _), client(url, key) as api:
                flow.api = api
                (run,) = flow.finished(1, timeout=180)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{solder.output()}") from exc
        assert run["status"] == "succeeded", run.get("error")
        for name, target in targets.items():
            try:
                target.exactly_once()
            except AssertionError as exc:
                raise AssertionError(f"{name} (at the kill: {at_kill}): {exc}") from exc
