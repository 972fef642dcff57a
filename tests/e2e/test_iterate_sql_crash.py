"""Acceptance for rows gathered by an iterate: 1,000 items collected, then written by one SQL
block in batches of 100, ``solder serve`` SIGKILLed with half of the batches sent, a new one
takes the run over, and the table holds each row exactly once.

The kill is placed, not timed: before the run starts, the test inserts row 500 in a
transaction of its own and keeps it open, so the SQL block's sixth batch waits for that row's
lock with five batches sent inside the block's transaction. The test sees the block waiting
(the server's own view of its sessions), kills the process, checks that none of the block's
rows were committed, rolls its row back, and starts Solder again. Real processes, the
machine's PostgreSQL (``insert`` + ``keyColumns``) and MariaDB (``upsert``); the store is the
test's database (SQLite, or PostgreSQL in the second pass).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, text

from tests.blockflow import Flow
from tests.buses import records
from tests.e2e.test_bus_destination_crash import RECORDS, SQL, sql_target
from tests.processes import Solder, client

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

HELD = 500  # the row whose lock holds the block's sixth batch
WAITING = {
    "postgresql": "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
    "AND query LIKE :pattern AND pid <> pg_backend_pid()",
    # InnoDB does not always list the waiting insert in INNODB_TRX (seen on this machine's
    # MariaDB: the statement sat in state "Update" while INNODB_TRX showed only the holder),
    # so look for the statement carrying the held row in the process list
    "mariadb": "SELECT count(*) FROM information_schema.PROCESSLIST WHERE command = 'Query' "
    f"AND info LIKE :pattern AND info LIKE '%({HELD}, %' AND id <> CONNECTION_ID()",
}


def wait_for(what: str, check: Callable[[], bool], solder: Solder, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not seen in {timeout}s: {what}"
        assert "run failed" not in solder.output(), "the run failed"
        time.sleep(0.05)


@pytest.mark.parametrize("kind", sorted(SQL))
def test_collected_rows_killed_halfway_through_the_batches_are_written_once(
    tmp_path: Path, database_url: str, kind: str
) -> None:
    url = SQL[kind][0]
    with sql_target(kind) as target:
        table = target.block["inputs"]["table"]
        block = {**target.block, "key": "write"}
        block["inputs"] = {**block["inputs"], "rows": "{{ blocks.each.items }}", "batchSize": 100}
        blocks = [
            {"key": "each", "type": "iterate",
             "inputs": {"items": "{{ trigger.records }}",
                        "collect": {"id": "{{ item.id }}", "name": "{{ blocks.named }}"}},
             "blocks": [{"key": "named", "type": "formatter", "operation": "text.lower",
                         "inputs": {"value": "{{ item.name }}"}}]},
            block,
        ]  # fmt: skip
        solder = Solder(tmp_path, database_url)
        solder.env["SOLDER_SQL_CONNECTIONS"] = f'{{"{kind}": "{url}"}}'
        key = solder.run("keys", "create", "--env", "development").strip().splitlines()[-1]
        watcher = create_engine(
            url.replace("postgresql://", "postgresql+psycopg://").replace(
                "mysql://", "mysql+pymysql://"
            )
        )
        holder: Connection = watcher.connect()
        try:
            holder.begin()
            holder.execute(text(f"INSERT INTO {table} (id, name) VALUES ({HELD}, 'held')"))

            def block_waits() -> bool:
                with watcher.connect() as conn:
                    found = conn.execute(text(WAITING[kind]), {"pattern": f"%{table}%"})
                    return int(found.scalar_one()) > 0

            with solder.serve() as (base, proc), client(base, key) as api:
                flow = Flow(api, tmp_path / "flow", blocks).install()
                flow.fire({"records": records(RECORDS)})
                wait_for("the SQL block waiting at row 500", block_waits, solder, 180)
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
            at_kill = target.count()  # committed rows only: the test's own row is not
            holder.rollback()
            assert at_kill == 0, f"{at_kill} rows committed by a transaction that never ended"
            with solder.serve() as (base, _), client(base, key) as api:
                flow.api = api
                (run,) = flow.finished(1, timeout=180)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{solder.output()}") from exc
        finally:
            holder.close()
            watcher.dispose()
        assert run["status"] == "succeeded", run.get("error")
        target.exactly_once()
        (written,) = [r["data"] for r in run["results"] if r["blockName"] == "write"]
        assert written == {"table": table, "mode": block["inputs"]["mode"], "rows": RECORDS,
                           "statements": RECORDS // 100}  # fmt: skip
