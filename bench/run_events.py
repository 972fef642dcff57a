"""Custom events in, Stream Data out: accept rate, latency and end-to-end throughput.

Starts ``solder serve`` (a fresh SQLite file unless ``--database-url``), a receiver in this
process, pushes a one-block workflow (custom event -> Stream Data), installs it for one user,
then fires ``--events`` events from ``--concurrency`` threads. Reports the accept rate and
latency of ``POST /run/event``, the time until every run has reached the receiver, and the
server's peak resident memory. Bounded: it stops by itself after ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from solder.demo import free_port, wait_for
from solder.push import push

WORKFLOW = """
events:
  - name: Bench Event
    body: {n: Number}
"""
INTEGRATION = """
integration: {key: bench, app: bigcommerce, name: Bench}
workflows:
  - key: stream
    name: Bench stream
    trigger: {key: ev, type: customEvent, event: Bench Event}
    blocks:
      - key: out
        type: streamData
        inputs: {url: "RECEIVER/in", body: {n: "{{ trigger.n }}", doubled: "{{ trigger.n * 2 }}"}}
"""


class Receiver:
    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.lock = threading.Lock()
        self.last = 0.0

    async def handle(self, request: Request) -> JSONResponse:
        key = request.headers.get("idempotency-key", "")
        await request.body()
        with self.lock:
            self.seen.add(key)
            self.last = time.perf_counter()
        return JSONResponse({"ok": True})


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--profile", default=None, help="py-spy the server into this file (raw)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="solder-bench-"))
    rec = Receiver()
    rec_port, port = free_port(), free_port()
    rec_server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/in", rec.handle, methods=["POST"])]),
            port=rec_port,
            log_level="warning",
        )
    )
    threading.Thread(target=rec_server.run, daemon=True).start()

    env = {
        **os.environ,
        "SOLDER_DATABASE_URL": args.database_url or f"sqlite:///{work / 'bench.sqlite'}",
        "SOLDER_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),
        "SOLDER_EGRESS__ALLOW_NETWORKS": '["127.0.0.1/32"]',  # loopback receivers
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "solder", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(work / "server.log").open("wb"),
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for("server", lambda: httpx2.get(f"{base}/health").status_code == 200)
        key = subprocess.run(
            [sys.executable, "-m", "solder", "keys", "create", "--env", "development"],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.strip().splitlines()[-1]  # fmt: skip
        (work / "defs").mkdir()
        (work / "defs" / "events.yaml").write_text(WORKFLOW)
        (work / "defs" / "bench.yaml").write_text(
            INTEGRATION.replace("RECEIVER", f"http://127.0.0.1:{rec_port}")
        )
        auth = {"Authorization": f"Bearer {key}"}
        with httpx2.Client(base_url=base, headers=auth, timeout=30) as c:
            push(c, work / "defs", release=True)
            user = c.post("/users", json={"username": "bench"}).json()["userId"]
            integ = c.get("/integrations").json()["data"][0]["integrationId"]
            inst = c.post(
                "/headless/startInstallation",
                json={"userId": user, "integrationId": integ, "credentialIds": []},
            ).json()["installationId"]
            c.post("/headless/completeInstallation", json={"installationId": inst, "data": []})
        spy = None
        if args.profile:
            py_spy = str(Path(sys.executable).parent / "py-spy")
            options = ["--format", "raw", "--threads", "--nonblocking", "--gil"]
            spy = subprocess.Popen(
                [py_spy, "record", *options, "-o", args.profile, "--pid", str(server.pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        cpu_before = cpu_seconds(server.pid)
        result = fire(base, auth, user, args, rec)
        used = cpu_seconds(server.pid) - cpu_before
        result["server_cpu_ms_per_event"] = round(used * 1000 / args.events, 2)
        if spy is not None:
            spy.send_signal(2)
            spy.wait(30)
        result["server_peak_rss_mib"] = round(peak_rss_mib(server.pid), 1)
        result["store"] = env["SOLDER_DATABASE_URL"].split(":", 1)[0]
        print(json.dumps(result, indent=2))
    finally:
        server.terminate()
        server.wait(10)
        rec_server.should_exit = True
    return 0


def fire(
    base: str, auth: dict[str, str], user: str, args: argparse.Namespace, rec: Receiver
) -> dict[str, Any]:
    latencies: list[float] = []
    lock = threading.Lock()
    local = threading.local()

    def one(n: int) -> None:
        if not hasattr(local, "client"):
            local.client = httpx2.Client(base_url=base, headers=auth, timeout=30)
        t0 = time.perf_counter()
        resp = local.client.post(
            "/2023-12/run/event",
            json={"event": "Bench Event", "userId": user, "data": {"n": n}},
        )
        dt = time.perf_counter() - t0
        if resp.status_code != 200:
            raise RuntimeError(resp.text)
        with lock:
            latencies.append(dt)

    start = time.perf_counter()
    with ThreadPoolExecutor(args.concurrency) as pool:
        list(pool.map(one, range(args.events)))
    accepted = time.perf_counter() - start
    deadline = time.monotonic() + args.timeout
    while len(rec.seen) < args.events and time.monotonic() < deadline:
        time.sleep(0.05)
    done = rec.last - start
    latencies.sort()
    return {
        "events": args.events,
        "concurrency": args.concurrency,
        "accept_per_s": round(args.events / accepted, 1),
        "accept_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "accept_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "delivered": len(rec.seen),
        "end_to_end_per_s": round(len(rec.seen) / done, 1) if done > 0 else None,
        "all_delivered_after_s": round(done, 2),
    }


if __name__ == "__main__":
    sys.exit(main())
