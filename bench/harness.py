"""What every benchmark shares: the processes under test, the definitions, the output.

A :class:`Stack` is a receiver process (``bench/receiver.py``) and Solder itself, in one of
two shapes:

* embedded (default): one ``solder serve`` process, API and worker threads, on a fresh SQLite
  file in a temporary directory (or ``--database-url``, or a fresh PostgreSQL database with
  ``--store postgres``);
* scaled out (``--worker-processes N``, N > 0): a fresh PostgreSQL database, the broker at
  ``SOLDER_BROKER_URL``, ``solder serve`` running the API only and N ``solder worker``
  processes. The fresh database is dropped afterwards.

Each benchmark is one script with :func:`parser` options; :func:`run` starts the stack, runs
the script's coroutine under ``--timeout`` (a watchdog ends the process if even cleanup
hangs), stops everything it started, prints one JSON line and writes it to
``bench/out/<name>.json``. A result's ``checks`` list holds each figure beside its target and
whether it was met.

Errors: :class:`BenchError` is anything that makes a figure meaningless (the server did not
start, a request failed, a mode is not available); it ends the benchmark with a message.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import hashlib
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import loadgen
import psutil
import yaml
from sqlalchemy import create_engine, text

from solder.demo import free_port
from solder.push import push

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
EVENT_API = "/2023-12/run/event"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"


class BenchError(Exception):
    """The benchmark cannot produce a meaningful figure; the message says why."""


# --- options and output ------------------------------------------------------------------


def parser(doc: str, *, timeout: float) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--database-url", help="an empty database (default: fresh SQLite file)")
    ap.add_argument(
        "--store",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="postgres: create a fresh database on 127.0.0.1:5432, drop it afterwards",
    )
    ap.add_argument(
        "--worker-processes",
        type=int,
        default=0,
        help="N > 0: scaled out on PostgreSQL and the broker: `solder serve` (API only) plus "
        "N `solder worker` processes",
    )
    ap.add_argument(
        "--engine-workers",
        type=int,
        default=4,
        help="SOLDER_ENGINE__WORKERS: worker threads per process (default 4)",
    )
    ap.add_argument("--timeout", type=float, default=timeout, help="seconds, whole benchmark")
    ap.add_argument("--out", type=Path, default=None, help="JSON result (default bench/out/)")
    ap.add_argument("--tag", default="", help="suffix of the output name, e.g. a change's name")
    ap.add_argument("--profile", type=Path, default=None, help="py-spy the server (raw format)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, db)")
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=180,
        help="seconds to wait at most for other processes to leave the CPUs idle first",
    )
    return ap


@dataclass
class Check:
    metric: str
    value: float | None
    target: float
    below: bool = True  # the target is a ceiling (latency, memory) or a floor (throughput)
    unit: str = ""

    @property
    def met(self) -> bool:
        if self.value is None:
            return False
        return self.value < self.target if self.below else self.value >= self.target

    def as_dict(self) -> dict[str, Any]:
        sign = "<" if self.below else ">="
        return {
            "metric": self.metric,
            "value": self.value,
            "target": f"{sign} {self.target:g} {self.unit}".strip(),
            "met": self.met,
        }


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "note": "load generator, receiver and Solder share these CPUs",
    }


def output_name(name: str, args: argparse.Namespace) -> str:
    parts = [name]
    if args.store == "postgres" or args.worker_processes > 0:
        parts.append("pg")
    if args.worker_processes > 0:
        parts.append(f"w{args.worker_processes}")
    if args.tag:
        parts.append(args.tag)
    return "-".join(parts)


def run(
    name: str,
    args: argparse.Namespace,
    body: Callable[[Stack, argparse.Namespace], Awaitable[dict[str, Any]]],
    *,
    workers: bool = True,
) -> int:
    """Start the stack, run ``body`` under ``--timeout``, stop the stack, write the result."""
    quiet = wait_quiet(args.quiet_wait)
    started = time.monotonic()
    date = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    stack = Stack(args, workers=workers)
    watchdog = threading.Timer(args.timeout + 60, _hard_exit, args=(stack,))
    watchdog.daemon = True
    watchdog.start()
    result: dict[str, Any] = {}
    code = 0
    others = OtherLoad()
    others.start()
    try:
        stack.start()
        result = asyncio.run(asyncio.wait_for(body(stack, args), args.timeout))
    except TimeoutError:
        result = {"error": f"timed out after {args.timeout:g} s (--timeout)"}
        code = 2
    except (BenchError, loadgen.HttpError) as exc:
        result = {"error": str(exc)}
        code = 1
    except Exception as exc:  # noqa: BLE001 - the benchmark's boundary: reported in its JSON
        result = {"error": f"{type(exc).__name__}: {exc}"}
        code = 1
    finally:
        stack.stop()
        watchdog.cancel()
        others.stop()
    result["other_processes"] = {**quiet, **others.summary()}
    if stack.server_errors:
        result["server_errors"] = stack.server_errors
    if code == 0 and not args.keep:
        shutil.rmtree(stack.work, ignore_errors=True)
    else:
        result["work_dir"] = str(stack.work)  # logs and database, kept for a look
    full = {
        "benchmark": name,
        "date": date,
        "machine": machine(),
        "setup": stack.describe(),
        **result,
        "bench_wall_s": round(time.monotonic() - started, 1),
    }
    out = args.out or OUT / f"{output_name(name, args)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(full, indent=2) + "\n")
    print(json.dumps(full))
    return code


class OtherLoad(threading.Thread):
    """CPU used by processes that are not this benchmark's (this process's descendants).

    The machine may be shared (other people's test suites): their CPU time is recorded beside
    every figure, so a figure measured on a busy machine can be recognised.
    """

    def __init__(self, every: float = 1.0) -> None:
        super().__init__(name="other-load", daemon=True)
        self.every = every
        self.halt = threading.Event()
        self.last: dict[int, float] = {}
        self.cpu = 0.0
        self.windows: list[float] = []
        self.names: dict[str, float] = {}
        self.t0 = time.monotonic()

    def _tick(self, record: bool) -> float:
        own = {psutil.Process().pid} | {p.pid for p in psutil.Process().children(recursive=True)}
        used = 0.0
        for proc in psutil.process_iter(["name", "cpu_times"]):
            if proc.pid in own or proc.info["cpu_times"] is None:
                continue
            t = proc.info["cpu_times"].user + proc.info["cpu_times"].system
            before = self.last.get(proc.pid)
            self.last[proc.pid] = t
            delta = t - before if before is not None else (t if record else 0.0)
            if record and delta > 0:
                used += delta
                name = proc.info["name"] or "?"
                self.names[name] = self.names.get(name, 0.0) + delta
        return used

    def run(self) -> None:
        self._tick(record=False)
        while not self.halt.wait(self.every):
            used = self._tick(record=True)
            self.cpu += used
            self.windows.append(used / self.every)

    def stop(self) -> None:
        self.halt.set()
        self.join(5)

    def summary(self) -> dict[str, Any]:
        wall = time.monotonic() - self.t0
        top = sorted(self.names.items(), key=lambda kv: -kv[1])[:4]
        return {
            "cpu_cores_mean": round(self.cpu / wall, 2) if wall > 0 else None,
            "cpu_cores_max_1s": round(max(self.windows), 2) if self.windows else None,
            "top": {name: round(cpu, 1) for name, cpu in top},
        }


def wait_quiet(limit: float, threshold: float = 0.15, window: float = 3.0) -> dict[str, Any]:
    """Wait up to ``limit`` s until other processes use under ``threshold`` cores."""
    probe = OtherLoad()
    probe._tick(record=False)
    t0 = time.monotonic()
    used = 0.0
    while True:
        time.sleep(window)
        used = probe._tick(record=True) / window
        if used < threshold or time.monotonic() - t0 >= limit:
            break
    return {
        "waited_for_quiet_s": round(time.monotonic() - t0, 1),
        "cores_busy_at_start": round(used, 2),
    }


def _hard_exit(stack: Stack) -> None:
    sys.stderr.write("watchdog: the benchmark outlived --timeout; killing what it started\n")
    stack.kill()
    os._exit(3)


# --- definitions ------------------------------------------------------------------------


def noop_block(key: str) -> dict[str, Any]:
    """A block that does nothing observable: trims a constant. Its result is still stored."""
    return {"key": key, "type": "formatter", "operation": "text.trim", "inputs": {"value": " x "}}


def stream_block(url: str) -> dict[str, Any]:
    """Stream Data with two mapped fields (``n`` copied, ``doubled`` computed)."""
    return {
        "key": "out",
        "type": "streamData",
        "inputs": {"url": url, "body": {"n": "{{ trigger.n }}", "doubled": "{{ trigger.n * 2 }}"}},
    }


def workflow(key: str, event: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "key": key,
        "name": key,
        "trigger": {"key": "ev", "type": "customEvent", "event": event},
        "blocks": blocks,
    }


# --- the processes under test -----------------------------------------------------------


@dataclass
class Stack:
    args: argparse.Namespace
    workers: bool = True
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="solder-bench-")))
    port: int = 0
    receiver_port: int = 0
    key: str = ""
    database_url: str = ""
    pg_database: str | None = None
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def scaled_out(self) -> bool:
        return int(self.args.worker_processes) > 0

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    @property
    def receiver_url(self) -> str:
        return f"http://127.0.0.1:{self.receiver_port}/in"

    def describe(self) -> dict[str, Any]:
        return {
            "store": self.database_url.split(":", 1)[0],
            "mode": "scaled-out" if self.scaled_out else "embedded",
            "broker": "SOLDER_BROKER_URL" in self.env,
            "worker_processes": int(self.args.worker_processes),
            "engine_workers": int(self.args.engine_workers),
            "workers_at_start": self.workers,
            "solder_commit": _git_head(),
        }

    # start and stop

    def start(self) -> None:
        if self.scaled_out:
            probe = subprocess.run(
                [sys.executable, "-m", "solder", "worker", "--help"],
                capture_output=True,
                text=True,
                check=False,
            )
            if probe.returncode != 0:
                raise BenchError(
                    "--worker-processes needs the `solder worker` command, which this checkout "
                    "does not have yet (the scaled-out mode is being built); run without it to "
                    "measure the embedded mode"
                )
        self.database_url = self._database()
        self.env = {
            **os.environ,
            "SOLDER_DATABASE_URL": self.database_url,
            "SOLDER_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),
            "SOLDER_EGRESS__ALLOW_NETWORKS": '["127.0.0.1/32"]',  # the receiver is on loopback
            "SOLDER_ENGINE__WORKERS": str(self.args.engine_workers),
        }
        if self.scaled_out or getattr(self.args, "broker", False):
            self.env["SOLDER_BROKER_URL"] = os.environ.get("SOLDER_BROKER_URL", BROKER_URL)
        self.receiver_port = free_port()
        self._spawn("receiver", [sys.executable, str(BENCH / "receiver.py"),
                                 "--port", str(self.receiver_port)])  # fmt: skip
        self._solder("db", ["db", "upgrade"], wait=True)
        self.key = self._solder("keys", ["keys", "create", "--env", "development"], wait=True)
        self.start_server(workers=self.workers)
        _wait("receiver", lambda: httpx2.get(f"http://127.0.0.1:{self.receiver_port}/stats"))

    def start_server(self, *, workers: bool) -> None:
        self.port = self.port or free_port()
        serve = ["serve", "--port", str(self.port)]
        if not workers or self.scaled_out:
            serve.append("--no-workers")
        self._solder("server", serve)
        if workers and self.scaled_out:
            for i in range(int(self.args.worker_processes)):
                self._solder(f"worker{i}", ["worker"])
        _wait("server", lambda: httpx2.get(f"http://127.0.0.1:{self.port}/health").is_success)

    def stop_server(self) -> None:
        for name in [n for n in self.procs if n == "server" or n.startswith("worker")]:
            self._end(name)

    def stop(self) -> None:
        for name in list(self.procs):
            self._end(name)
        self._collect_errors()
        if self.pg_database:
            _drop_pg(self.pg_database)
            self.pg_database = None

    def kill(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()

    def _end(self, name: str) -> None:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def _database(self) -> str:
        if self.args.database_url and not self.scaled_out:
            return str(self.args.database_url)
        if self.args.store == "postgres" or self.scaled_out:
            self.pg_database = f"bench_{secrets.token_hex(4)}"
            _create_pg(self.pg_database)
            return f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.pg_database}"
        return f"sqlite:///{self.work / 'bench.sqlite'}"

    def _solder(self, name: str, argv: list[str], *, wait: bool = False) -> str:
        cmd = [sys.executable, "-m", "solder", *argv]
        if wait:
            done = subprocess.run(cmd, env=self.env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise BenchError(f"`solder {' '.join(argv)}` failed: {done.stderr.strip()[-800:]}")
            return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        self._spawn(name, cmd)
        return ""

    def _spawn(self, name: str, cmd: list[str]) -> None:
        log = (self.work / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            cmd, env=self.env or None, stdout=log, stderr=subprocess.STDOUT, cwd=self.work
        )

    def _collect_errors(self) -> None:
        for log in sorted(self.work.glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()
            bad = [ln for ln in lines if "ERROR" in ln or "Traceback" in ln]
            self.server_errors += [f"{log.name}: {ln[:300]}" for ln in bad[:5]]

    # measurements of the processes

    def solder_processes(self) -> list[psutil.Process]:
        procs = []
        for name, proc in self.procs.items():
            if name == "receiver" or proc.poll() is not None:
                continue
            try:
                top = psutil.Process(proc.pid)
                procs += [top, *top.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
        return procs

    def rss_mib(self) -> float:
        total = 0
        for p in self.solder_processes():
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total / 2**20

    def cpu_s(self, which: str = "solder") -> float:
        if which == "receiver":
            procs = [psutil.Process(self.procs["receiver"].pid)]
        else:
            procs = self.solder_processes()
        total = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                continue
        return total

    def count(self, sql: str, **params: Any) -> int:
        engine = create_engine(self.database_url.replace("postgresql:", "postgresql+psycopg:"))
        try:
            with engine.connect() as conn:
                return int(conn.execute(text(sql), params).scalar_one())
        finally:
            engine.dispose()

    # the API

    def push(self, events: Iterable[str], workflows: list[dict[str, Any]]) -> dict[str, Any]:
        """Push and release one integration; returns its view (``integrationId``, workflows)."""
        defs = self.work / f"defs-{secrets.token_hex(3)}"
        defs.mkdir()
        doc = {"events": [{"name": e, "body": {"n": "Number"}} for e in events]}
        (defs / "events.yaml").write_text(yaml.safe_dump(doc))
        integration = {
            "integration": {"key": "bench", "app": "bigcommerce", "name": "Bench"},
            "workflows": workflows,
        }
        (defs / "bench.yaml").write_text(yaml.safe_dump(integration))
        with httpx2.Client(base_url=self.base, headers=self.auth, timeout=60) as client:
            push(client, defs, release=True)
            found: dict[str, Any] = client.get("/integrations").json()["data"][0]
        return found

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def install(self, integration_id: str, count: int, concurrency: int = 8) -> list[str]:
        """Make ``count`` users (``u0``...) and install the integration for each; user ids."""
        ids = [""] * count
        cursor = iter(range(count))

        async def worker() -> None:
            conn = loadgen.Connection(self.port)
            try:
                for i in cursor:
                    user = await _api(conn, "/users", self.auth, {"username": f"u{i}"})
                    uid = user["userId"]
                    body = {"userId": uid, "integrationId": integration_id, "credentialIds": []}
                    inst = await _api(conn, "/headless/startInstallation", self.auth, body)
                    done = {"installationId": inst["installationId"], "data": []}
                    await _api(conn, "/headless/completeInstallation", self.auth, done)
                    ids[i] = uid
            finally:
                conn.close()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return ids

    def event_requests(self, event: str, users: list[str], ns: Iterable[int]) -> list[bytes]:
        """Pre-encoded ``POST /run/event`` requests, event ``n`` for ``users[n % len]``."""
        return [
            loadgen.encode(
                "POST",
                EVENT_API,
                self.auth,
                {"event": event, "userId": users[n % len(users)], "data": {"n": n}},
            )
            for n in ns
        ]

    async def received(self, full: bool = False) -> dict[str, Any]:
        path = "/stats?full=1" if full else "/stats"
        stats: dict[str, Any] = await loadgen.call(self.receiver_port, "GET", path, {})
        return stats

    async def reset_receiver(self) -> None:
        await loadgen.call(self.receiver_port, "POST", "/reset", {})

    async def wait_delivered(self, expected: int, deadline: float, step: float = 0.02) -> bool:
        """Poll the receiver until ``expected`` distinct events arrived or ``deadline``."""
        while time.monotonic() < deadline:
            if (await self.received())["unique"] >= expected:
                return True
            await asyncio.sleep(step)
        return False

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise BenchError(
                    f"{name} exited with {proc.returncode}; see its log in {self.work}"
                )

    @contextmanager
    def profile(self, path: Path | None) -> Iterator[None]:
        """py-spy the server into ``path`` (raw format) for the ``with`` body; None: nothing."""
        if path is None:
            yield
            return
        py_spy = Path(sys.executable).parent / "py-spy"
        if not py_spy.exists():
            raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy")
        spy = subprocess.Popen(
            [str(py_spy), "record", "--format", "raw", "--threads", "--nonblocking", "--gil",
             "-o", str(path), "--pid", str(self.procs["server"].pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            yield
        finally:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            spy.wait(60)


async def _api(conn: loadgen.Connection, path: str, auth: dict[str, str], body: Any) -> Any:
    status, raw = await conn.request(loadgen.encode("POST", path, auth, body))
    if status >= 400:
        raise BenchError(f"POST {path}: HTTP {status}: {raw[:300]!r}")
    return json.loads(raw)


async def sample_rss(stack: Stack, into: list[tuple[float, float]], every: float = 0.25) -> None:
    """Append ``(monotonic time, resident MiB of Solder's process tree)`` until cancelled."""
    while True:
        into.append((time.monotonic(), round(stack.rss_mib(), 1)))
        await asyncio.sleep(every)


def _wait(what: str, check: Callable[[], Any], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx2.TransportError as exc:
            last = exc
        time.sleep(0.1)
    raise BenchError(f"{what} did not come up in {timeout:g} s ({last})")


def _create_pg(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def _drop_pg(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _git_head() -> str:
    """The commit measured, ``+changes:<hash of the diff>`` when src/ differs from it."""
    root = str(BENCH.parent)
    try:
        git = ["git", "-C", root]
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        diff = subprocess.run([*git, "diff", "HEAD", "--", "src"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    if not diff.stdout:
        return head
    return f"{head}+changes:{hashlib.sha1(diff.stdout).hexdigest()[:8]}"
