"""Latency from ``run/event`` to the POST arriving, at steady rates (open loop).

Targets: at 50 events/s p50 < 10 ms and p99 < 50 ms; at 400 events/s p99 < 100 ms.
Event ``i`` of a phase is due at ``start + i / rate`` whether or not earlier ones were answered
(open loop: a slow server cannot slow the sender down and hide its own delay). Latency is
counted from the due time to the receiver's arrival time, both on ``CLOCK_MONOTONIC``. Each
phase waits until every event arrived before the next starts. Writes a histogram and CDF.

    .venv/bin/python bench/latency.py --rates 50 400 --seconds 20 10
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import harness
import loadgen
import plots

import e2e

TARGETS = {50: {"p50": 10.0, "p99": 50.0}, 400: {"p99": 100.0}}


async def phase(
    stack: harness.Stack, users: list[str], first: int, rate: float, seconds: float, wait: float
) -> tuple[dict[str, Any], list[float]]:
    count = int(rate * seconds)
    await stack.reset_receiver()
    requests = stack.event_requests(e2e.EVENT, users, range(first, first + count))
    cpu0 = stack.cpu_s()
    load = await loadgen.open_loop(stack.port, requests, rate)
    await stack.wait_delivered(count, time.monotonic() + wait)
    server_cpu = stack.cpu_s() - cpu0
    got = await stack.received(full=True)
    arrivals = {int(n): t for n, t in got["arrivals"].items()}
    latencies = sorted(
        arrivals[first + i] - r.due for i, r in enumerate(load.results) if first + i in arrivals
    )
    lag = sorted(r.sent - r.due for r in load.results)
    summary = load.summary()
    result = {
        "rate": rate,
        "seconds": seconds,
        "events": count,
        "delivered": len(latencies),
        "missing": count - len(latencies),
        "duplicate_runs": got["duplicate_events"],
        "latency_ms": loadgen.percentiles(latencies),
        "accept_response_ms": summary["response_ms"],
        "send_lag_ms": loadgen.percentiles(lag),
        "connections_opened": load.connections,
        "client_cpu_share": summary["client_cpu_share"],
        "server_cpu_share": round(server_cpu / (time.monotonic() - load.started), 2),
    }
    return result, [x * 1000 for x in latencies]


async def body(stack: harness.Stack, args: argparse.Namespace) -> dict[str, Any]:
    users = await e2e.setup(stack, args.users)
    await e2e.fire_and_drain(stack, users, 0, 100, 8, 60)  # warm-up
    first = 100
    phases, series, checks = [], {}, []
    for rate, seconds in zip(args.rates, args.seconds, strict=True):
        result, values = await phase(stack, users, first, rate, seconds, args.drain_timeout)
        first += result["events"]
        phases.append(result)
        series[f"{rate:g}/s"] = values
        complete = result["missing"] == 0
        for q, limit in TARGETS.get(int(rate), {}).items():
            value = result["latency_ms"][q] if complete else None
            checks.append(harness.Check(f"latency {q} at {rate:g}/s", value, limit,
                                        unit="ms").as_dict())  # fmt: skip
        stack.check_alive()
    name = harness.output_name("latency", args)
    path = plots.latency(name, series, sorted({v for t in TARGETS.values() for v in t.values()}))
    return {"users": args.users, "phases": phases, "plot": str(path), "checks": checks}


def main() -> int:
    ap = harness.parser(__doc__ or "", timeout=600)
    ap.add_argument("--rates", type=float, nargs="+", default=[50, 400])
    ap.add_argument("--seconds", type=float, nargs="+", default=[20, 10])
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--drain-timeout", type=float, default=180)
    args = ap.parse_args()
    if len(args.rates) != len(args.seconds):
        ap.error("--rates and --seconds need as many values each")
    return harness.run("latency", args, body)


if __name__ == "__main__":
    sys.exit(main())
