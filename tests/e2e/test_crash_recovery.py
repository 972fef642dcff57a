"""Acceptance: SIGKILL the server in the middle of runs; after a restart every accepted event
reached a terminal state and no block that had finished ran again.

Real processes: ``python -m solder serve`` twice on the same database, the second after the
first was killed. The ISV's endpoint is a slow receiver in this process that counts the
``Idempotency-Key`` (``{run_id}:{block_id}``) of every request it gets.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from solder.store.db import make_engine
from solder.store.tables import block_results, events, runs
from tests.eventflow import StreamBlock, fire, install_flow, write_flow
from tests.flows import ok, wait_until
from tests.servers import run_asgi

pytestmark = pytest.mark.e2e

EVENTS = 40
BLOCKS = (
    StreamBlock("record-parcel", "0d5e7a10-0000-4000-8000-00000000000a", ""),
    StreamBlock("notify-customer", "0d5e7a10-0000-4000-8000-00000000000b", ""),
)
KILL_AFTER = 30  # deliveries seen before the SIGKILL, of EVENTS * len(BLOCKS)
SECRET_KEY = base64.b64encode(bytes(range(32))).decode()  # fixed: the restart must decrypt


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
            wait_until("solder serve to answer", lambda: self._healthy(url, proc), timeout=30)
            yield url, proc
        finally:
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


def test_sigkill_mid_run_loses_no_event_and_repeats_no_finished_block(
    tmp_path: Path, database_url: str
) -> None:
    receiver = SlowReceiver()
    solder = Solder(tmp_path, database_url)
    with run_asgi(receiver.app) as receiver_url:
        blocks = [StreamBlock(b.key, b.id, f"{receiver_url}/{b.key}") for b in BLOCKS]
        key = solder.run("keys", "create", "--env", "development").strip().splitlines()[-1]
        try:
            with solder.serve() as (url, proc), client(url, key) as api:
                info = install_flow(api, write_flow(tmp_path / "flow", blocks), blocks)
                for n in range(EVENTS):
                    fire(api, info.user_id, n, key=f"parcel-{n}")
                receiver.gate.set()
                receiver.wait_for(KILL_AFTER)
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
            seen_at_kill = receiver.total()
            finished_at_kill = finished_stream_blocks(database_url)
            # the kill must land mid-way, or this test would prove nothing
            assert 0 < len(finished_at_kill) < EVENTS * len(blocks), seen_at_kill
            assert seen_at_kill < EVENTS * len(blocks)

            with solder.serve() as (url, _), client(url, key) as api:

                def all_terminal() -> list[dict[str, Any]] | None:
                    found = all_runs(api, info.workflow_id)
                    done = [r for r in found if r["status"] in ("succeeded", "failed")]
                    return found if len(done) == len(found) == EVENTS else None

                after = wait_until(f"{EVENTS} finished runs", all_terminal, timeout=20)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{solder.output()}") from exc

    # every accepted event has exactly one run, and it succeeded
    assert sorted(r["inputs"]["n"] for r in after) == list(range(EVENTS))
    assert {r["status"] for r in after} == {"succeeded"}, [r["error"] for r in after]
    assert stored_counts(database_url) == (EVENTS, EVENTS)

    # every block was delivered at least once (one caught in flight by the kill may come
    # twice), and none that had finished before the kill was sent again
    expected = {f"{r['executionId']}:{b.id}" for r in after for b in blocks}
    assert set(receiver.counts) == expected
    assert finished_at_kill <= expected
    repeated = {k: receiver.counts[k] for k in finished_at_kill if receiver.counts[k] != 1}
    assert repeated == {}
