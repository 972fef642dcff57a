"""Ingest: custom events accepted per second, each stored before its answer (target 1,500/s).

``solder serve --no-workers`` (nothing executes, so only acceptance is measured), one workflow
installed for ``--users`` users, then ``--events`` ``POST /2023-12/run/event`` calls from
``--concurrency`` keep-alive connections (closed loop) after a warm-up. Afterwards the stored
events and queued runs are counted in the database: each must equal the accepted calls.

    .venv/bin/python bench/ingest.py --events 5000 --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import harness
import loadgen

EVENT = "Bench Event"
TARGET_PER_S = 1500


async def body(stack: harness.Stack, args: argparse.Namespace) -> dict[str, Any]:
    found = stack.push([EVENT], [harness.workflow("stream", EVENT, [
        harness.stream_block(stack.receiver_url)])])  # fmt: skip
    users = await stack.install(found["integrationId"], args.users)
    warm = await loadgen.closed_loop(
        stack.port, stack.event_requests(EVENT, users, range(args.warmup)), args.concurrency
    )
    requests = stack.event_requests(EVENT, users, range(args.warmup, args.warmup + args.events))
    cpu0, rcpu0 = stack.cpu_s(), stack.cpu_s("receiver")
    with stack.profile(args.profile):
        load = await loadgen.closed_loop(stack.port, requests, args.concurrency)
    server_cpu = stack.cpu_s() - cpu0
    stack.check_alive()
    accepted = warm.ok() + load.ok()
    await asyncio.sleep(0.2)
    stored_events = stack.count("SELECT count(*) FROM events WHERE kind = 'custom'")
    stored_runs = stack.count("SELECT count(*) FROM runs")
    summary = load.summary()
    rate = summary["ok_per_s"]
    return {
        "events": args.events,
        "warmup": args.warmup,
        "users": args.users,
        "concurrency": args.concurrency,
        "accept_per_s": rate,
        "response_ms": summary["response_ms"],
        "errors": summary["errors"],
        "first_errors": summary["first_errors"],
        "client_cpu_share": summary["client_cpu_share"],
        "server_cpu_share": round(server_cpu / load.wall_s, 2),
        "server_cpu_ms_per_event": round(server_cpu * 1000 / max(load.ok(), 1), 2),
        "receiver_cpu_s": round(stack.cpu_s("receiver") - rcpu0, 2),
        "accepted_total": accepted,
        "stored_events": stored_events,
        "stored_runs": stored_runs,
        "stored_equals_accepted": stored_events == accepted and stored_runs == accepted,
        "checks": [
            harness.Check("accepted events/s", rate, TARGET_PER_S, below=False, unit="/s").as_dict()
        ],
    }


def main() -> int:
    ap = harness.parser(__doc__ or "", timeout=300)
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument(
        "--broker", action="store_true", help="set SOLDER_BROKER_URL (the scaled-out API path)"
    )
    args = ap.parse_args()
    if args.worker_processes:
        ap.error("ingest runs no workers; use --store postgres (and --broker) for that tier")
    return harness.run("ingest", args, body, workers=False)


if __name__ == "__main__":
    sys.exit(main())
