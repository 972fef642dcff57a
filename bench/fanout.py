"""Fan-out: one event for each of 10,000 installations, all delivered in under 20 s.

``--installations`` users are made and the Stream Data workflow installed for each through
the HTTP API (``POST /users``, ``startInstallation``, ``completeInstallation``) from
``--setup-concurrency`` connections; the setup time is reported. Then the event goes to every
installation and the clock runs from the first request to the last delivery.

``run/event`` names one user, and no API call sends one event to every user's installation,
so "one event to 10,000 installations" is measured as 10,000 ``run/event`` calls, one per
user, fired as fast as ``--concurrency`` connections allow. The figure therefore includes
accepting 10,000 calls (see ``ingest.py`` for that rate alone).

    .venv/bin/python bench/fanout.py --installations 10000
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

import e2e

TARGET_S = 20.0


async def install_many(
    stack: harness.Stack, count: int, concurrency: int, rss: list[tuple[float, float]]
) -> tuple[list[str], dict[str, Any]]:
    """The Stream Data workflow installed for ``count`` users; the setup's own figures."""
    wf = harness.workflow("stream", e2e.EVENT, [harness.stream_block(stack.receiver_url)])
    found = stack.push([e2e.EVENT], [wf])
    t0, cpu0 = time.monotonic(), stack.cpu_s()
    users = await stack.install(found["integrationId"], count, concurrency)
    took = time.monotonic() - t0
    stack.check_alive()
    installs = stack.count("SELECT count(*) FROM workflow_installs WHERE active")
    if installs != count:
        raise harness.BenchError(f"{installs} active installations after installing {count}")
    return users, {
        "installations": count,
        "setup_s": round(took, 1),
        "setup_installs_per_s": round(count / took, 1),
        "setup_concurrency": concurrency,
        "setup_server_cpu_ms_per_install": round((stack.cpu_s() - cpu0) * 1000 / count, 2),
        "rss_mib_after_setup": rss[-1][1] if rss else round(stack.rss_mib(), 1),
    }


async def body(stack: harness.Stack, args: argparse.Namespace) -> dict[str, Any]:
    rss: list[tuple[float, float]] = []
    sampler = asyncio.create_task(harness.sample_rss(stack, rss, 0.5))
    try:
        users, setup = await install_many(stack, args.installations, args.setup_concurrency, rss)
        await asyncio.sleep(2)  # let the installs' own work (subscriptions) settle
        await stack.reset_receiver()
        count = len(users)
        requests = stack.event_requests(e2e.EVENT, users, range(count))
        cpu0 = stack.cpu_s()
        load = await loadgen.closed_loop(stack.port, requests, args.concurrency)
        complete = await stack.wait_delivered(count, time.monotonic() + args.drain_timeout)
        server_cpu = stack.cpu_s() - cpu0
        await asyncio.sleep(1.0)
        got = await stack.received(full=True)
    finally:
        sampler.cancel()
    arrivals = {int(n): t for n, t in got["arrivals"].items()}
    missing = count - len(arrivals.keys() & set(range(count)))
    took = got["last"] - load.started if arrivals else None
    summary = load.summary()
    name = harness.output_name("fanout", args)
    path = plots.delivery_curve(name, f"Fan-out: {count} installations", load, arrivals)
    done = complete and not missing and not got["duplicate_events"]
    return {
        **setup,
        "concurrency": args.concurrency,
        "accept_per_s": summary["ok_per_s"],
        "accepted_after_s": round(load.wall_s, 2),
        "delivered": len(arrivals),
        "missing": missing,
        "duplicate_runs": got["duplicate_events"],
        "duplicate_deliveries": got["duplicate_keys"],
        "all_delivered_after_s": round(took, 2) if took else None,
        "delivered_per_s": round(len(arrivals) / took, 1) if took else None,
        "client_cpu_share": summary["client_cpu_share"],
        "server_cpu_ms_per_event": round(server_cpu * 1000 / max(len(arrivals), 1), 2),
        "rss_mib_peak": max(v for _, v in rss) if rss else None,
        "plot": str(path),
        "checks": [
            harness.Check(
                f"all {count} delivered after",
                round(took, 2) if took and done else None,
                TARGET_S,
                unit="s",
            ).as_dict()
        ],
    }


def main() -> int:
    ap = harness.parser(__doc__ or "", timeout=1500)
    ap.add_argument("--installations", type=int, default=10_000)
    ap.add_argument("--setup-concurrency", type=int, default=16)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--drain-timeout", type=float, default=600)
    return harness.run("fanout", ap.parse_args(), body)


if __name__ == "__main__":
    sys.exit(main())
