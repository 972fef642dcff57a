"""End to end: events/s from ``run/event`` to the receiver, nothing lost (target 500/s).

One workflow: custom event -> Stream Data POST with two mapped fields. After a warm-up,
``--events`` events are fired as fast as ``--concurrency`` keep-alive connections allow; the
figure is events delivered per second from the first request to the last delivery. The
receiver counts deliveries by ``Idempotency-Key`` (one per run and step) and by event number:
every event must arrive exactly once.

    .venv/bin/python bench/e2e.py --events 3000 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import harness
import loadgen
import plots

EVENT = "Bench Event"
TARGET_PER_S = 500


async def setup(stack: harness.Stack, users: int) -> list[str]:
    wf = harness.workflow("stream", EVENT, [harness.stream_block(stack.receiver_url)])
    found = stack.push([EVENT], [wf])
    return await stack.install(found["integrationId"], users)


async def fire_and_drain(
    stack: harness.Stack, users: list[str], first: int, count: int, concurrency: int, wait: float
) -> dict[str, Any]:
    """Fire events ``first..first+count`` closed loop; wait for every delivery; the figures."""
    await stack.reset_receiver()
    requests = stack.event_requests(EVENT, users, range(first, first + count))
    cpu0, rcpu0 = stack.cpu_s(), stack.cpu_s("receiver")
    load = await loadgen.closed_loop(stack.port, requests, concurrency)
    complete = await stack.wait_delivered(count, time.monotonic() + wait)
    server_cpu = stack.cpu_s() - cpu0
    await asyncio.sleep(1.0)  # late duplicates would show up here
    got = await stack.received(full=True)
    arrivals = {int(n): t for n, t in got["arrivals"].items()}
    expected = set(range(first, first + count))
    missing = sorted(expected - arrivals.keys())
    span = (got["last"] - load.started) if arrivals else 0.0
    summary = load.summary()
    return {
        "events": count,
        "accepted": load.ok(),
        "accept_per_s": summary["ok_per_s"],
        "accept_response_ms": summary["response_ms"],
        "delivered": len(expected & arrivals.keys()),
        "all_delivered": complete and not missing,
        "missing": len(missing),
        "missing_first": missing[:10],
        "duplicate_deliveries": got["duplicate_keys"],
        "duplicate_runs": got["duplicate_events"],
        "unexpected": len(arrivals.keys() - expected),
        "all_delivered_after_s": round(span, 2),
        "end_to_end_per_s": round(len(arrivals) / span, 1) if span > 0 else None,
        "client_cpu_share": summary["client_cpu_share"],
        "server_cpu_share": round(server_cpu / span, 2) if span > 0 else None,
        "server_cpu_ms_per_event": round(server_cpu * 1000 / max(len(arrivals), 1), 2),
        "receiver_cpu_share": round((stack.cpu_s("receiver") - rcpu0) / span, 2) if span else None,
        "_curve": (load, arrivals),
    }


async def body(stack: harness.Stack, args: argparse.Namespace) -> dict[str, Any]:
    users = await setup(stack, args.users)
    await fire_and_drain(stack, users, 0, args.warmup, args.concurrency, 60)
    with stack.profile(args.profile):
        result = await fire_and_drain(
            stack, users, args.warmup, args.events, args.concurrency, args.drain_timeout
        )
    stack.check_alive()
    load, arrivals = result.pop("_curve")
    name = harness.output_name("e2e", args)
    result["plot"] = str(plots.delivery_curve(name, "End to end: events fired and delivered",
                                              load, arrivals))  # fmt: skip
    result["rss_mib_after"] = round(stack.rss_mib(), 1)
    ok = result["all_delivered"] and not result["duplicate_runs"]
    rate = result["end_to_end_per_s"] if ok else None
    result["checks"] = [
        harness.Check("end-to-end events/s, none lost", rate, TARGET_PER_S, below=False,
                      unit="/s").as_dict(),
    ]  # fmt: skip
    return {"users": args.users, "concurrency": args.concurrency, **result}


def main() -> int:
    ap = harness.parser(__doc__ or "", timeout=420)
    ap.add_argument("--events", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--drain-timeout", type=float, default=240, help="seconds to wait for all")
    return harness.run("e2e", ap.parse_args(), body)


if __name__ == "__main__":
    sys.exit(main())
