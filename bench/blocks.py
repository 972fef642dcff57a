"""Per-block overhead: a workflow of 40 no-op blocks against one of 1 (target < 1 ms a block).

The no-op block is a formatter, ``text.trim`` of a constant: its input is mapped, it runs,
and its result is stored in ``block_results`` like any block's (a formatter has no side
effects, so its row rides on the run's next commit instead of a commit of its own).

To time execution alone, each batch is queued first with the workers off (``solder serve
--no-workers``), then the server is restarted with its workers, which drain the batch. The
time per run is the batch's span in the database (first ``started_at`` to last
``finished_at``) over its size, and the overhead per block is
``(time per run(40) - time per run(1)) / 39``. Batches alternate between the two workflows
for ``--rounds`` rounds of ``--runs`` runs each.

    .venv/bin/python bench/blocks.py --runs 300 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import time
from typing import Any

import harness
import loadgen
from sqlalchemy import create_engine, func, select

from solder.store import tables

TARGET_MS = 1.0
SIZES = (1, 40)


def _event(size: int) -> str:
    return f"Blocks {size}"


def _span(stack: harness.Stack, workflow_id: str, since: dt.datetime) -> tuple[int, int, float]:
    """(finished, failed, seconds from first start to last finish) of the batch."""
    runs = tables.runs
    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                select(
                    func.count().filter(runs.c.status == "succeeded"),
                    func.count().filter(runs.c.status == "failed"),
                    func.min(runs.c.started_at),
                    func.max(runs.c.finished_at),
                ).where(runs.c.workflow_id == workflow_id, runs.c.created_at >= since)
            ).one()
    finally:
        engine.dispose()
    span = (row[3] - row[2]).total_seconds() if row[2] and row[3] else 0.0
    return int(row[0]), int(row[1]), span


async def batch(
    stack: harness.Stack, user: str, size: int, workflow_id: str, runs: int, wait: float
) -> dict[str, Any]:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(milliseconds=5)
    requests = stack.event_requests(_event(size), [user], range(runs))
    load = await loadgen.closed_loop(stack.port, requests, 16)
    if load.ok() != runs:
        raise harness.BenchError(f"{runs - load.ok()} events refused: {load.errors[:2]}")
    stack.stop_server()
    stack.start_server(workers=True)
    deadline = time.monotonic() + wait
    done = failed = 0
    span = 0.0
    while time.monotonic() < deadline:
        done, failed, span = _span(stack, workflow_id, since)
        if done + failed >= runs:
            break
        await asyncio.sleep(0.25)
    stack.stop_server()
    stack.start_server(workers=False)
    if failed or done < runs:
        raise harness.BenchError(f"{size}-block batch: {done} succeeded, {failed} failed of {runs}")
    return {"blocks": size, "runs": runs, "span_s": round(span, 3),
            "ms_per_run": round(span * 1000 / runs, 3)}  # fmt: skip


async def body(stack: harness.Stack, args: argparse.Namespace) -> dict[str, Any]:
    workflows = [
        harness.workflow(f"noop{size}", _event(size),
                         [harness.noop_block(f"b{i}") for i in range(size)])
        for size in SIZES
    ]  # fmt: skip
    found = stack.push([_event(size) for size in SIZES], workflows)
    ids = {size: next(w["workflowId"] for w in found["workflows"] if w["name"] == f"noop{size}")
           for size in SIZES}  # fmt: skip
    (user,) = await stack.install(found["integrationId"], 1)
    await batch(stack, user, 1, ids[1], 50, args.drain_timeout)  # warm-up
    batches = []
    for _ in range(args.rounds):
        for size in SIZES:
            batches.append(await batch(stack, user, size, ids[size], args.runs, args.drain_timeout))
    per_run = {
        size: statistics.median(b["ms_per_run"] for b in batches if b["blocks"] == size)
        for size in SIZES
    }
    overhead = (per_run[40] - per_run[1]) / 39
    rounds = [
        round((b40["ms_per_run"] - b1["ms_per_run"]) / 39, 3)
        for b1, b40 in zip(batches[0::2], batches[1::2], strict=True)
    ]
    return {
        "noop_block": harness.noop_block("b"),
        "batches": batches,
        "ms_per_run_1": round(per_run[1], 3),
        "ms_per_run_40": round(per_run[40], 3),
        "ms_per_block": round(overhead, 3),
        "ms_per_block_by_round": rounds,
        "checks": [
            harness.Check("overhead per block", round(overhead, 3), TARGET_MS, unit="ms").as_dict()
        ],
    }


def main() -> int:
    ap = harness.parser(__doc__ or "", timeout=900)
    ap.add_argument("--runs", type=int, default=300, help="runs per batch")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--drain-timeout", type=float, default=300)
    args = ap.parse_args()
    if args.worker_processes:
        ap.error("blocks restarts the embedded server between batches; no --worker-processes")
    return harness.run("blocks", args, body, workers=False)


if __name__ == "__main__":
    sys.exit(main())
