"""``bench/dashboard.py`` at a small scale: every statement the dashboard's list, search and
filter calls run reads its large tables through an index that narrows by the call's filter.

300 users and 3,000 runs are seeded with the script's own bulk seeding; each call is made
once through the app while its SQL is recorded, and each statement is explained. On
PostgreSQL the planner is told not to prefer a sequential scan (``enable_seqscan = off``),
which it would for tables this small: the question is whether an index can serve the
query. Timing is the script's business, not this test's.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from solder.store import accounts

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import dashboard  # the benchmark script, from bench/

SECRET = base64.b64encode(b"k" * 32).decode()


def test_every_dashboard_list_reads_through_a_fitting_index(
    engine: Engine, database_url: str
) -> None:
    with engine.begin() as conn:
        key = accounts.create_key(conn, "development")
    seeded = dashboard.seed(engine, 300, 3_000)
    assert seeded.counts["runs"] == 3_000
    assert seeded.counts["workflow_installs"] == 600
    assert seeded.counts["credentials"] == 300
    todo = dashboard.calls(seeded, 300)

    found = dashboard.plans(database_url, SECRET, key, todo, force_index=True)

    assert {p.call for p in found} == {name for name, _ in todo}
    bad = [p.as_dict() for p in found if not p.ok]
    assert bad == []
    by_call: dict[str, list[Any]] = {}
    for p in found:
        by_call.setdefault(p.call, []).append(p)
    # the filters the dashboard offers each read their own index (migrations 0007 and 0009)
    for call, index in [
        ("runs: newest page", "ix_runs_environment_created_at_id"),
        ("runs: failed", "ix_runs_environment_status_created_at_id"),
        ("runs: one workflow", "ix_runs_environment_workflow_id_created_at_id"),
        ("runs: one user", "ix_runs_environment_user_id_created_at_id"),
        ("runs: workflow + version 1", "ix_runs_environment_version_id_created_at_id"),
        ("users: username prefix", "users"),
    ]:
        assert any(index in p.detail for p in by_call[call]), by_call[call]
