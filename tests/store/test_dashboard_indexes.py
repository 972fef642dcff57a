"""The dashboard's lists read pages from indexes, on SQLite and on PostgreSQL.

The newest page of an environment's runs (optionally of one status) and a page of users by
username prefix are planned as index scans in the index's order, with no sort of the whole
table: what keeps them fast with 100,000 runs and 10,000 users. PostgreSQL's planner prefers
a sequential scan of a small table, so it is told not to (``enable_seqscan = off``): the
question is whether an index can serve the query at all.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, Select, text

from solder.store import runs, users
from solder.store.db import is_sqlite


def plan(engine: Engine, query: Select[Any]) -> str:
    sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    with engine.begin() as conn:
        if is_sqlite(engine):
            rows = conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")).all()
            return "\n".join(str(r[-1]) for r in rows)
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        return "\n".join(str(r[0]) for r in conn.execute(text(f"EXPLAIN {sql}")).all())


def sorts(engine: Engine, detail: str) -> bool:
    if is_sqlite(engine):
        return "TEMP B-TREE" in detail
    return any(line.strip().startswith(("Sort", "->  Sort")) for line in detail.splitlines())


@pytest.mark.parametrize(
    ("status", "index"),
    [
        (None, "ix_runs_environment_created_at_id"),
        ("failed", "ix_runs_environment_status_created_at_id"),
    ],
)
def test_the_newest_runs_page_reads_an_index_in_order(
    engine: Engine, status: str | None, index: str
) -> None:
    for newest_first in (True, False):
        query = runs.runs_query(
            "production", status=status, sort="createdAt", newest_first=newest_first,
            offset=50, limit=25,
        )  # fmt: skip
        detail = plan(engine, query)
        assert index in detail, detail
        assert not sorts(engine, detail), detail


def test_a_username_prefix_page_reads_the_unique_index(engine: Engine) -> None:
    query = users.username_page("production", prefix="gre", offset=0, limit=25)
    detail = plan(engine, query)
    # SQLite names the unique constraint's index itself
    assert any(n in detail for n in ("uq_users_environment_username", "sqlite_autoindex_users"))
    assert not sorts(engine, detail), detail
