"""Memory: Solder's resident memory with 10,000 installations under the end-to-end load.

Resident set size of Solder's process tree (``solder serve``, every ``solder worker`` and
their children, summed with psutil) sampled every ``--every`` seconds while
``--installations`` users are installed, then while the end-to-end workload runs: ``--events``
events spread over all the users, fired as fast as ``--concurrency`` connections allow, until
every one is delivered. Target: the peak under 150 MiB.

    .venv/bin/python bench/memory.py --installations 10000 --events 3000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import fanout
import harness
import plots

import e2e

TARGET_MIB = 150.0


async def body(stack: harness.Stack, args: argparse.Namespace) -> dict[str, Any]:
    rss: list[tuple[float, float]] = []
    sampler = asyncio.create_task(harness.sample_rss(stack, rss, args.every))
    try:
        await asyncio.sleep(args.every * 2)
        idle = rss[-1][1]
        users, setup = await fanout.install_many(
            stack, args.installations, args.setup_concurrency, rss
        )
        load_start = time.monotonic()
        before = len(rss)
        result = await e2e.fire_and_drain(
            stack, users, 0, args.events, args.concurrency, args.drain_timeout
        )
        load_end = time.monotonic()
    finally:
        sampler.cancel()
    result.pop("_curve")
    under_load = [v for _, v in rss[before:]] or [round(stack.rss_mib(), 1)]
    peak = max(under_load)
    name = harness.output_name("memory", args)
    path = plots.timeline(
        name,
        f"Resident memory of Solder ({args.installations} installations)",
        "MiB (process tree)",
        rss,
        limit=TARGET_MIB,
        marks={"end-to-end load": load_start, "all delivered": load_end},
    )
    keep = ("events", "delivered", "all_delivered", "end_to_end_per_s", "duplicate_runs")
    return {
        **setup,
        "rss_mib_idle": idle,
        "rss_mib_peak_under_load": peak,
        "rss_mib_median_under_load": sorted(under_load)[len(under_load) // 2],
        "e2e": {k: result[k] for k in keep},
        "plot": str(path),
        "checks": [
            harness.Check(
                f"peak RSS, {args.installations} installations, e2e load",
                peak,
                TARGET_MIB,
                unit="MiB",
            ).as_dict()
        ],
    }


def main() -> int:
    ap = harness.parser(__doc__ or "", timeout=1200)
    ap.add_argument("--installations", type=int, default=10_000)
    ap.add_argument("--setup-concurrency", type=int, default=16)
    ap.add_argument("--events", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--every", type=float, default=0.25, help="seconds between samples")
    ap.add_argument("--drain-timeout", type=float, default=300)
    return harness.run("memory", ap.parse_args(), body)


if __name__ == "__main__":
    sys.exit(main())
