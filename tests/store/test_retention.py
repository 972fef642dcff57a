"""Logs are kept for the configured period, then purged by the workers themselves."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx2
from sqlalchemy import func, select, update

from solder.engine.worker import WorkerPool
from solder.store import runs
from solder.store.tables import block_results, events
from solder.store.tables import runs as runs_table
from solder.store.types import utcnow
from tests.conftest import Server
from tests.eventflow import StreamBlock, fire, install_flow, write_flow
from tests.flows import settled

BLOCK = "6f0c6b51-0000-4000-8000-0000000000aa"


def test_finished_runs_older_than_the_retention_period_are_purged(
    server: Server, api: httpx2.Client, receiver_url: str, tmp_path: Path
) -> None:
    block = StreamBlock("notify", BLOCK, f"{receiver_url}/in")
    info = install_flow(api, write_flow(tmp_path / "flow", [block]), [block])
    for n in range(3):
        fire(api, info.user_id, n)
    finished = settled(api, info.workflow_id, info.user_id, 3)
    old, kept = finished[0]["executionId"], {r["executionId"] for r in finished[1:]}

    engine = server.services.engine
    days = server.services.settings.log_retention_days
    with engine.begin() as conn:
        long_ago = utcnow() - timedelta(days=days + 1)
        conn.execute(update(runs_table).where(runs_table.c.id == old).values(finished_at=long_ago))
        event_id = conn.execute(
            select(runs_table.c.event_id).where(runs_table.c.id == old)
        ).scalar_one()
        conn.execute(update(events).where(events.c.id == event_id).values(received_at=long_ago))

    pool = WorkerPool(server.services, threads=1)
    pool._housekeeping()  # what every worker does once an hour

    with engine.connect() as conn:
        left = {r.id for r in conn.execute(select(runs_table.c.id))}
        orphans = conn.execute(
            select(func.count()).select_from(block_results).where(block_results.c.run_id == old)
        ).scalar_one()
        gone_event = conn.execute(select(events.c.id).where(events.c.id == event_id)).first()
        assert runs.get_run(conn, old) is None
    assert left == kept
    assert orphans == 0
    assert gone_event is None
    logs = api.get(f"/workflows/{info.workflow_id}/logs", params={"userId": info.user_id})
    assert {r["executionId"] for r in logs.json()["data"]} == kept
