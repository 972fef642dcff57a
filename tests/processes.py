"""Real Solder processes for end-to-end tests: a counting receiver, ``solder serve`` and
``solder worker`` subprocesses, and readers of the store and the logs API.
"""

from __future__ import annotations

import asyncio
import collections
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from kombu import Connection
from sqlalchemy import create_engine, func, select, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from solder.store.db import make_engine
from solder.store.tables import block_results, events, runs
from tests.flows import ok, wait_until

SECRET_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="  # fixed: a restart must decrypt


class SlowReceiver:
    """Answers every POST 200 after ``delay`` seconds; counts each Idempotency-Key on arrival.

    Requests wait while the gate is closed, so the test decides when deliveries start.
    """

    def __init__(self, delay: float = 0.04) -> None:
        self.delay = delay
        self.counts: collections.Counter[str] = collections.Counter()
        self.gate = threading.Event()
        self._changed = threading.Condition()
        self.app = Starlette(routes=[Route("/{path:path}", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> JSONResponse:
        with self._changed:
            self.counts[request.headers.get("idempotency-key", "")] += 1
            self._changed.notify_all()
        while not self.gate.is_set():  # noqa: ASYNC110 - the test's thread opens the gate
            await asyncio.sleep(0.005)
        await asyncio.sleep(self.delay)
        return JSONResponse({"received": True})

    def total(self) -> int:
        with self._changed:
            return sum(self.counts.values())

    def wait_for(self, total: int, timeout: float = 15.0) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: sum(self.counts.values()) >= total, timeout):
                raise AssertionError(f"{sum(self.counts.values())} of {total} deliveries seen")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Solder:
    """``python -m solder`` subprocesses sharing one environment; their output goes to files."""

    def __init__(self, workdir: Path, database_url: str) -> None:
        self.workdir = workdir
        self.env = {
            **os.environ,
            "SOLDER_DATABASE_URL": database_url,
            "SOLDER_SECRET_KEY": SECRET_KEY,
            "SOLDER_ENGINE__WORKERS": "4",
            "SOLDER_EGRESS__ALLOW_NETWORKS": '["127.0.0.1/32"]',  # loopback receivers
            "SOLDER_ENGINE__LEASE_SECONDS": "3",
            "SOLDER_ENGINE__BACKOFF_BASE": "0.1",
            "SOLDER_ENGINE__POLL_INTERVAL": "0.05",
        }
        self.logs: list[Path] = []

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "solder", *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    @contextmanager
    def serve(self) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
        """Start ``solder serve``; yield its URL and process; SIGKILL it on the way out."""
        port = free_port()
        log = self.workdir / f"serve-{len(self.logs) + 1}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "solder", "serve", "--port", str(port)],
                env=self.env,
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until("solder serve to answer", lambda: self._healthy(url, proc), timeout=90)
            yield url, proc
        finally:
            proc.kill()
            proc.wait(10)

    @contextmanager
    def workers(
        self, count: int, metrics_ports: list[int] | None = None
    ) -> Iterator[list[subprocess.Popen[bytes]]]:
        """Start ``count`` ``solder worker`` processes (the i-th serving its metrics on
        ``metrics_ports[i]`` when given); SIGKILL those left on the way out."""
        procs = []
        try:
            for i in range(count):
                log = self.workdir / f"worker-{len(self.logs) + 1}.log"
                self.logs.append(log)
                port = ["--metrics-port", str(metrics_ports[i])] if metrics_ports else []
                with log.open("wb") as out:
                    procs.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "solder", "worker", *port],
                            env=self.env,
                            cwd=self.workdir,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                        )
                    )
            queue = self.env.get("SOLDER_BROKER_QUEUE")
            if queue:  # runs go only to workers that listen: wait for all, or one takes all
                wait_until(
                    f"{count} workers on the broker",
                    lambda: broker_consumers(queue) >= count,
                    timeout=60,
                )
            yield procs
        finally:
            for proc in procs:
                proc.kill()
                proc.wait(10)

    def _healthy(self, url: str, proc: subprocess.Popen[bytes]) -> bool:
        assert proc.poll() is None, f"solder serve exited early:\n{self.output()}"
        try:
            return httpx2.get(f"{url}/health", timeout=1).status_code == 200
        except httpx2.TransportError:
            return False

    def output(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in self.logs)


def client(url: str, key: str) -> httpx2.Client:
    return httpx2.Client(
        base_url=f"{url}/2023-12", headers={"Authorization": f"Bearer {key}"}, timeout=10
    )


def all_runs(api: httpx2.Client, workflow_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        params: dict[str, str | int] = {"limit": 30, "page": page, "order": "asc"}
        data = ok(api.get(f"/workflows/{workflow_id}/logs", params=params))["data"]
        found += data
        if len(data) < 30:
            return found
        page += 1


def finished_stream_blocks(database_url: str) -> set[str]:
    """Read straight from the store: the Stream Data blocks that had succeeded."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(block_results.c.run_id, block_results.c.block_id).where(
                    block_results.c.status == "succeeded",
                    block_results.c.block_type == "streamData",
                )
            )
            return {f"{r.run_id}:{r.block_id}" for r in rows}
    finally:
        engine.dispose()


def stored_counts(database_url: str) -> tuple[int, int]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            n_events = conn.execute(select(func.count()).select_from(events)).scalar_one()
            n_runs = conn.execute(select(func.count()).select_from(runs)).scalar_one()
            return int(n_events), int(n_runs)
    finally:
        engine.dispose()


# ---- crash tests: a receiver that keeps the order of arrivals, workers one at a time, and
# a fresh PostgreSQL database and broker queue ---------------------------------------------

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BROKER = "amqp://guest:guest@127.0.0.1:5672//"


@dataclass(frozen=True)
class Arrival:
    """One request the receiver got: its Idempotency-Key, when (``time.time()``), the status
    it answered."""

    key: str
    at: float
    status: int


class RecordingReceiver(SlowReceiver):
    """A :class:`SlowReceiver` that also keeps every arrival in order, and can be down.

    Until ``down_until`` (a ``time.time()`` value) it answers 503 at once, without waiting at
    the gate; the 503s are arrivals (and counted) too.
    """

    def __init__(self, delay: float = 0.04) -> None:
        super().__init__(delay)
        self.arrivals: list[Arrival] = []
        self.down_until = 0.0

    async def receive(self, request: Request) -> JSONResponse:
        now = time.time()
        status = 503 if now < self.down_until else 200
        key = request.headers.get("idempotency-key", "")
        with self._changed:
            self.counts[key] += 1
            self.arrivals.append(Arrival(key, now, status))
            self._changed.notify_all()
        if status != 200:
            return JSONResponse({"message": "down for maintenance"}, status_code=status)
        while not self.gate.is_set():  # noqa: ASYNC110 - the test's thread opens the gate
            await asyncio.sleep(0.005)
        await asyncio.sleep(self.delay)
        return JSONResponse({"received": True})

    def seen(self) -> list[Arrival]:
        with self._changed:
            return list(self.arrivals)

    def wait_quiet(self, quiet: float = 0.3, timeout: float = 10.0) -> int:
        """Wait until nothing arrived for ``quiet`` seconds; return the number of arrivals."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                before = len(self.arrivals)
                self._changed.wait(quiet)
                if len(self.arrivals) == before:
                    return before
                if time.monotonic() > deadline:
                    raise AssertionError(f"arrivals did not stop within {timeout}s")


def start_worker(solder: Solder) -> subprocess.Popen[bytes]:
    """One more ``solder worker`` of ``solder``'s environment; the caller kills it."""
    log = solder.workdir / f"worker-{len(solder.logs) + 1}.log"
    solder.logs.append(log)
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "solder", "worker"],
            env=solder.env,
            cwd=solder.workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _unavailable(message: str) -> None:
    """A service the test needs is down: a failure under CI, a skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """A new, empty PostgreSQL database on the machine's server; dropped on the way out."""
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    name = "solder_crash_" + secrets.token_hex(4)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        _unavailable(
            f"PostgreSQL is not reachable ({type(exc).__name__}); start it with: "
            "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        )
    try:
        yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def broker_queue() -> Iterator[str]:
    """The name of a RabbitMQ queue of this test's own; deleted on the way out."""
    name = "solder.test." + secrets.token_hex(4)
    try:
        with Connection(BROKER, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        _unavailable(
            f"RabbitMQ is not reachable at 127.0.0.1:5672 ({type(exc).__name__}); start it "
            "with: rabbitmq-server -detached"
        )
    try:
        yield name
    finally:
        try:
            with Connection(BROKER, connect_timeout=5) as conn:
                conn.default_channel.queue_delete(name)
        except Exception:
            pass


def broker_consumers(queue: str) -> int:
    """How many consumers (``solder worker`` processes) listen on ``queue`` now."""
    try:
        with Connection(BROKER, connect_timeout=5) as conn:
            _, _, consumers = conn.default_channel.queue_declare(queue=queue, passive=True)
            return int(consumers)
    except Exception:  # the queue does not exist yet: no worker declared it
        return 0
