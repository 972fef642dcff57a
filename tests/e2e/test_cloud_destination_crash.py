"""Acceptance: a workflow writes 1,000 records to a destination, ``solder serve`` is SIGKILLed
half-way and started again, and the destination holds each record exactly once.

The workflow: a code block cuts the event's 1,000 records into ten batches of 100, an
``iterate`` sends each batch with one destination block. The emulators run in this process
(``tests/destinations/emulators.py``) and hold the sixth batch's write at its most awkward
point, so the kill always lands there:

* Snowflake (fakesnow): the sixth ``COMMIT`` is held, Solder is killed, then the ``COMMIT``
  runs. The rows are in the table but Solder never heard so, and the rerun merges the batch
  again: merge by key leaves each record once.
* EventBridge (moto): the answer to the 51st PutEvents (the sixth batch's first ten events) is
  held after the events went on the bus (the layer before moto records each entry moto took:
  reading 1,000 events back through a rule and SQS is too slow here). The rerun puts the batch
  again: EventBridge keeps both copies, and each carries the same ``solderEventId``; a
  consumer that drops ids it has seen gets each record exactly once. That is the contract,
  and it is what is asserted.
"""

from __future__ import annotations

import collections
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.blockflow import Flow
from tests.destinations.emulators import Gate, fakesnow_server, moto_server
from tests.flows import wait_until
from tests.processes import Solder, client

# 1,000 records through emulators in this process, on a shared 2-core machine: generous bounds
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

RECORDS = 1000
BATCH = 100
CHUNK = f"""
function main(input) {{
  const out = [];
  for (let i = 0; i < input.records.length; i += {BATCH}) {{
    out.push(input.records.slice(i, i + {BATCH}));
  }}
  return out;
}}
"""


def workflow(send: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"key": "chunk", "type": "code", "code": CHUNK,
         "inputs": {"records": "{{ trigger.records }}"}},
        {"key": "each", "type": "iterate", "inputs": {"items": "{{ blocks.chunk }}"},
         "blocks": [{"key": "send", "type": "destination", **send}]},
    ]  # fmt: skip


def records() -> list[dict[str, Any]]:
    return [{"id": n, "name": f"record {n}"} for n in range(RECORDS)]


def crash_and_rerun(
    tmp_path: Path, database_url: str, connections: dict[str, str], send: dict[str, Any],
    gate: Gate, after_kill: Callable[[], None],
) -> dict[str, Any]:  # fmt: skip
    """Run the workflow, kill Solder when ``gate`` holds a write, rerun; the finished run."""
    solder = Solder(tmp_path, database_url)
    solder.env["SOLDER_DESTINATION_CONNECTIONS"] = json.dumps(connections)
    key = solder.run("keys", "create", "--env", "development").strip().splitlines()[-1]
    try:
        with solder.serve() as (url, proc), client(url, key) as api:
            flow = Flow(api, tmp_path / "flow", workflow(send)).install()
            flow.fire({"records": records()})
            wait_until("a write held mid-way", gate.held.is_set, timeout=300)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        gate.release()
        after_kill()
        with solder.serve() as (url, _), client(url, key) as api:
            flow.api = api
            (run,) = flow.finished(1, timeout=300)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{solder.output()}") from exc
    assert run["status"] == "succeeded", run["error"]
    return run


def test_snowflake_holds_each_record_once_after_a_kill_mid_commit(
    tmp_path: Path, database_url: str
) -> None:
    gate = Gate(open_for=5)  # five batches committed; the sixth COMMIT is held
    with fakesnow_server(gate) as snow:
        snow.sql("CREATE TABLE records (id INT, name VARCHAR)")
        send = {"destination": "snowflake",
                "inputs": {"connection": "warehouse", "table": "records", "mode": "merge",
                           "keyColumns": ["id"], "rows": "{{ item }}"}}  # fmt: skip

        def committed_six_batches() -> None:
            count = lambda: snow.sql("SELECT COUNT(*) FROM records")[0][0]  # noqa: E731
            wait_until("the held COMMIT ran", lambda: count() == 6 * BATCH, timeout=30)

        crash_and_rerun(tmp_path, database_url, {"warehouse": snow.url()}, send, gate,
                        committed_six_batches)  # fmt: skip
        rows = snow.sql("SELECT id, name, COUNT(*) OVER (PARTITION BY id) FROM records")
    assert len(rows) == RECORDS
    assert sorted(r[0] for r in rows) == list(range(RECORDS))
    assert {r[2] for r in rows} == {1}
    assert all(name == f"record {n}" for n, name, _ in rows)


def test_eventbridge_events_dedupe_by_their_id_to_each_record_once(
    tmp_path: Path, database_url: str
) -> None:
    with moto_server() as aws:
        aws.faults.gate = gate = Gate(open_for=5 * BATCH // 10)  # the 51st PutEvents is held
        aws.client("events").create_event_bus(Name="records")
        send = {"destination": "eventbridge",
                "inputs": {"connection": "bus", "source": "com.acme.records",
                           "detailType": "Record", "eventBus": "records",
                           "events": "{{ item }}"}}  # fmt: skip
        crash_and_rerun(tmp_path, database_url, {"bus": aws.url()}, send, gate, lambda: None)
        delivered = list(aws.faults.accepted)
    by_id: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for detail in delivered:
        by_id[detail["solderEventId"]].append(detail)
    # the batch caught by the kill went on the bus twice: same ids, same details
    assert len(delivered) > RECORDS
    assert all(all(d == copies[0] for d in copies) for copies in by_id.values())
    # dropped by id, each record is there exactly once
    kept = collections.Counter(copies[0]["id"] for copies in by_id.values())
    assert sorted(kept) == list(range(RECORDS))
    assert set(kept.values()) == {1}
