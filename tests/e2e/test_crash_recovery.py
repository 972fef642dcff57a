"""Acceptance: SIGKILL the server in the middle of runs; after a restart every accepted event
reached a terminal state and no block that had finished ran again.

Real processes: ``python -m solder serve`` twice on the same database, the second after the
first was killed. The ISV's endpoint is a slow receiver in this process that counts the
``Idempotency-Key`` (``{run_id}:{block_id}``) of every request it gets.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.eventflow import StreamBlock, fire, install_flow, write_flow
from tests.flows import wait_until
from tests.processes import (
    SlowReceiver,
    Solder,
    all_runs,
    client,
    finished_stream_blocks,
    stored_counts,
)
from tests.servers import run_asgi

pytestmark = pytest.mark.e2e

EVENTS = 40
BLOCKS = (
    StreamBlock("record-parcel", "0d5e7a10-0000-4000-8000-00000000000a", ""),
    StreamBlock("notify-customer", "0d5e7a10-0000-4000-8000-00000000000b", ""),
)
KILL_AFTER = 30  # deliveries seen before the SIGKILL, of EVENTS * len(BLOCKS)


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
