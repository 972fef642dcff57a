"""The dashboard at scale: 10,000 users and installations, 100,000 runs (issue 6, item 5).

Seeds a fresh database through the store layer in bulk (``solder.store`` tables, thousands of
rows per statement; the catalog with the store's own functions): one integration of two
released workflows (two versions each), ``--users`` users each with one installation of
both and a credential (one in 50 needing a reconnect), and ``--runs`` runs spread over the
last 30 days (85 % succeeded, 15 % failed), each with its event and two block results.
Then it starts ``solder serve --no-workers`` on that database, logs in as the dashboard
does (the session cookie and ``x-solder-dashboard``), and times each call the dashboard's
lists make, ``--repeat`` times after two warm-ups: p50, p95 and max in milliseconds.

Each call is also made once in this process against the same database while every SQL
statement it runs is recorded, and each statement that reads a large table (users,
installations, runs, events, block results, credentials) is explained (SQLite ``EXPLAIN
QUERY PLAN``, PostgreSQL ``EXPLAIN``): a full scan of such a table (SQLite ``SCAN t`` with no
index, PostgreSQL ``Seq Scan``) fails the check, and so does a filter on a user, workflow or
version id that no index lookup of the plan narrows by (the walk of a whole environment
through an index on ``environment``). A sort is reported beside each. PostgreSQL reading a
table whole for a statement that wants 90 % of its rows or more (the count of an unfiltered
list) is reported as ``wants_every_row``, not failed: an index would read as many entries.

    .venv/bin/python bench/dashboard.py                      # SQLite, full scale
    .venv/bin/python bench/dashboard.py --store postgres     # a fresh PostgreSQL database
    .venv/bin/python bench/dashboard.py --users 300 --runs 3000 --repeat 5

PostgreSQL is analysed after seeding (its autovacuum would do so); SQLite is not (Solder
never runs ``ANALYZE`` on it, so the plans are those a deployment gets).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import harness
import httpx2
from sqlalchemy import Engine, create_engine, event, insert, select

from solder.config import Settings
from solder.engine.definitions import CustomEventDef, IntegrationFile
from solder.store import catalog, tables
from solder.store.db import is_sqlite
from solder.store.types import new_id

ENV = "development"
EVENT = "Order Placed"
NAMES = (
    "ada",
    "bram",
    "chen",
    "dana",
    "emil",
    "fatima",
    "greta",
    "hugo",
    "ines",
    "jonas",
    "kofi",
    "lena",
    "mira",
    "noor",
    "olaf",
    "priya",
    "quinn",
    "rosa",
    "sven",
    "tomas",
)
LARGE = (
    "users",
    "installations",
    "workflow_installs",
    "runs",
    "events",
    "block_results",
    "credentials",
)
SELECTIVE = re.compile(r"\b(\w+)\.(user_id|workflow_id|version_id) = ")
BATCH = 5_000
TARGET_P95_MS = 100.0
HEADER = "x-solder-dashboard"


# --- seeding ------------------------------------------------------------------------------


@dataclass
class Seeded:
    """Ids the calls need: workflows, their versions, a user, a run, a prefix."""

    workflow_ids: list[str]
    version_ids: dict[str, list[str]]  # workflow id -> version ids, oldest first
    user_id: str
    run_id: str
    prefix: str
    newest: dt.datetime
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _integration(note: str) -> IntegrationFile:
    def flow(key: str) -> dict[str, Any]:
        blocks = [harness.noop_block("tidy"), {**harness.noop_block("shape"), "name": note}]
        return harness.workflow(key, EVENT, blocks)

    doc = {
        "integration": {"key": "shop", "app": "bigcommerce", "name": "Shop"},
        "workflows": [flow("orders-to-crm"), flow("orders-to-erp")],
    }
    return IntegrationFile.model_validate(doc).with_block_ids()


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == BATCH:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def seed(
    engine: Engine, users: int, runs: int, *, log: Callable[[str], None] = lambda _: None
) -> Seeded:
    """Fill an empty, migrated database; deterministic but for ids and times."""
    started = time.monotonic()
    rnd = random.Random(6)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with engine.begin() as conn:
        catalog.upsert_event(conn, ENV, CustomEventDef(name=EVENT, body={"n": "Number"}))
        made = catalog.upsert_integration(conn, ENV, _integration("v1"))
        workflow_ids = [w["workflowId"] for w in made["workflows"]]
        for wid in workflow_ids:
            catalog.release(conn, wid)
        catalog.upsert_integration(conn, ENV, _integration("v2"))
        for wid in workflow_ids:
            catalog.release(conn, wid)
        versions = {wid: [str(v.id) for v in catalog.versions(conn, wid)] for wid in workflow_ids}
        versions = {
            wid: sorted(ids, key=lambda i: catalog.version(conn, i).number)
            for wid, ids in versions.items()
        }
        blocks = {
            wid: [
                (b["id"], b["key"], b["type"])
                for b in catalog.version(conn, ids[-1]).definition["blocks"]
            ]
            for wid, ids in versions.items()
        }
        integration_id = made["integrationId"]
    log(f"catalog: {len(workflow_ids)} workflows, 2 versions each")

    user_ids = [new_id() for _ in range(users)]
    installs: dict[tuple[str, str], str] = {}
    t = tables
    with engine.begin() as conn:
        for chunk in _chunks(
            {
                "id": uid,
                "environment": ENV,
                "username": f"{NAMES[i % len(NAMES)]}-{i:05d}",
                "full_name": f"User {i}",
                "created_at": now - dt.timedelta(days=40, seconds=i),
                "updated_at": now,
            }
            for i, uid in enumerate(user_ids)
        ):
            conn.execute(insert(t.users), chunk)
        installation_ids = [new_id() for _ in user_ids]
        credential_ids = [new_id() for _ in user_ids]
        for chunk in _chunks(
            {
                "id": cid,
                "environment": ENV,
                "user_id": uid,
                "app": "bigcommerce",
                "name": f"Store of user {i}",
                "key_id": "bench",  # never decrypted by the dashboard: it shows health only
                "ciphertext": b"\0" * 64,
                "created_at": now - dt.timedelta(days=39),
                "updated_at": now - dt.timedelta(days=39),
                "status": "needs_reconnect" if i % 50 == 0 else "connected",
            }
            for i, (cid, uid) in enumerate(zip(credential_ids, user_ids, strict=True))
        ):
            conn.execute(insert(t.credentials), chunk)
        for chunk in _chunks(
            {
                "id": iid,
                "environment": ENV,
                "user_id": uid,
                "integration_id": integration_id,
                "credential_ids": [cid],
                "workflow_ids": workflow_ids,
                "form_data": [],
                "status": "completed",
                "created_at": now - dt.timedelta(days=39),
                "installed_at": now - dt.timedelta(days=39),
            }
            for iid, uid, cid in zip(installation_ids, user_ids, credential_ids, strict=True)
        ):
            conn.execute(insert(t.installations), chunk)

        def copies() -> Iterator[dict[str, Any]]:
            for iid, uid, cid in zip(installation_ids, user_ids, credential_ids, strict=True):
                for wid in workflow_ids:
                    copy = new_id()
                    installs[(uid, wid)] = copy
                    pinned = rnd.random() < 0.2  # a fifth stay on version 1
                    yield {
                        "id": copy,
                        "environment": ENV,
                        "installation_id": iid,
                        "user_id": uid,
                        "workflow_id": wid,
                        "version_id": versions[wid][0 if pinned else -1],
                        "config": {},
                        "credential_ids": [cid],
                        "active": True,
                        "state": {},
                        "trigger_key": f"event:{EVENT}",
                        "installed_at": now,
                        "updated_at": now,
                    }

        for chunk in _chunks(copies()):
            conn.execute(insert(t.workflow_installs), chunk)
    log(f"users, credentials, installations: {users} each; copies: {len(installs)}")

    span = 30 * 86_400
    newest = now - dt.timedelta(days=30)
    run_id = ""
    done = 0
    while done < runs:
        batch = min(BATCH, runs - done)
        ev_rows, run_rows, result_rows = [], [], []
        for n in range(done, done + batch):
            uid = user_ids[rnd.randrange(users)]
            wid = workflow_ids[n % len(workflow_ids)]
            created = now - dt.timedelta(seconds=rnd.randrange(span))
            newest = max(newest, created)
            failed = rnd.random() < 0.15
            event_id, run_id = new_id(), new_id()
            ev_rows.append(
                {
                    "id": event_id,
                    "environment": ENV,
                    "kind": "custom",
                    "name": EVENT,
                    "user_id": uid,
                    "workflow_install_id": installs[(uid, wid)],
                    "dedupe_key": None,
                    "payload": {"n": n},
                    "received_at": created,
                }
            )
            run_rows.append(
                {
                    "id": run_id,
                    "environment": ENV,
                    "event_id": event_id,
                    "workflow_install_id": installs[(uid, wid)],
                    "workflow_id": wid,
                    "user_id": uid,
                    "version_id": versions[wid][1 if rnd.random() < 0.8 else 0],
                    "status": "failed" if failed else "succeeded",
                    "attempt": 1,
                    "next_attempt_at": created,
                    "fence": 1,
                    "error": {"message": "HTTP 400 from the receiver"} if failed else None,
                    "created_at": created,
                    "started_at": created,
                    "finished_at": created + dt.timedelta(milliseconds=40),
                }
            )
            for pos, (bid, key, kind) in enumerate(blocks[wid]):
                last = pos == len(blocks[wid]) - 1
                result_rows.append(
                    {
                        "id": new_id(),
                        "run_id": run_id,
                        "block_id": bid,
                        "block_name": key,
                        "block_type": kind,
                        "position": pos,
                        "status": "failed" if failed and last else "succeeded",
                        "input": {"value": " x "},
                        "output": None if failed and last else "x",
                        "error": "HTTP 400" if failed and last else None,
                        "attempts": 1,
                        "started_at": created,
                        "finished_at": created + dt.timedelta(milliseconds=9),
                    }
                )
        with engine.begin() as conn:
            conn.execute(insert(t.events), ev_rows)
            conn.execute(insert(t.runs), run_rows)
            conn.execute(insert(t.block_results), result_rows)
        done += batch
        if done % 20_000 == 0 or done == runs:
            log(f"runs: {done}")
    if not is_sqlite(engine):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    counts = {}
    with engine.connect() as conn:
        for name in LARGE:
            counts[name] = int(conn.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar_one())
    return Seeded(
        workflow_ids=workflow_ids,
        version_ids=versions,
        user_id=user_ids[len(user_ids) // 2],
        run_id=run_id,
        prefix="gre",
        newest=newest,
        counts=counts,
        seconds=round(time.monotonic() - started, 1),
    )


# --- the dashboard's calls ----------------------------------------------------------------


def calls(s: Seeded, users: int) -> list[tuple[str, str]]:
    """(name, path) of each call, with the query strings the dashboard's pages send."""
    deep = max(0, (users // 25 - 1) * 25)
    day = (s.newest - dt.timedelta(days=1)).isoformat().replace("+00:00", "Z")
    wid, uid = s.workflow_ids[0], s.user_id
    runs = "/logs?limit=25&sortBy=createdAt"
    return [
        ("users: page 1", "/manage/users?search=&skip=0&limit=25"),
        (f"users: page {deep // 25 + 1} (last)", f"/manage/users?search=&skip={deep}&limit=25"),
        ("users: username prefix", f"/manage/users?search={s.prefix}&skip=0&limit=25"),
        ("runs: newest page", f"{runs}&skip=0"),
        ("runs: page 40", f"{runs}&skip=975"),
        ("runs: failed", f"{runs}&skip=0&status=failed"),
        ("runs: one workflow", f"{runs}&skip=0&workflowId={wid}"),
        ("runs: one user", f"{runs}&skip=0&userId={uid}"),
        ("runs: workflow + version 1", f"{runs}&skip=0&workflowId={wid}&version=1"),
        ("runs: last day", f"{runs}&skip=0&since={day}"),
        ("runs: failed, last day", f"{runs}&skip=0&status=failed&since={day}"),
        ("runs: workflow + user", f"{runs}&skip=0&workflowId={wid}&userId={uid}"),
        ("run: detail", f"/logs/{s.run_id}"),
        ("user: installations", f"/manage/users/{uid}/workflows"),
    ]


# --- query plans --------------------------------------------------------------------------


@dataclass
class Plan:
    call: str
    sql: str
    table_scans: list[str]  # large tables read whole, though the statement wants a part
    unserved: list[str]  # filters on an id column that no index of the plan narrows by
    sorts: bool
    detail: str
    whole: list[str] = field(default_factory=list)  # read whole: it wants (nearly) every row

    @property
    def ok(self) -> bool:
        return not self.table_scans and not self.unserved

    def as_dict(self) -> dict[str, Any]:
        return {
            "call": self.call,
            "sql": self.sql[:300],
            "table_scans": self.table_scans,
            "unserved_filters": self.unserved,
            "wants_every_row": self.whole,
            "sorts": self.sorts,
            "plan": self.detail,
        }


def _reads_large(sql: str) -> bool:
    low = sql.lower()
    return low.lstrip().startswith("select") and any(f" {t}" in low for t in LARGE)


def explain(engine: Engine, sql: str, params: Any, *, force_index: bool = False) -> str:
    with engine.begin() as conn:
        if is_sqlite(engine):
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()
            return "\n".join(str(r[-1]) for r in rows)
        if force_index:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = conn.exec_driver_sql(f"EXPLAIN {sql}", params).all()
        return "\n".join(str(r[0]) for r in rows)


def full_scans(sqlite: bool, detail: str, sizes: dict[str, float]) -> tuple[list[str], list[str]]:
    """The large tables a plan reads whole without an index: those it reads for a part of
    their rows (a missing index), and those it reads because it wants (nearly) every row,
    as PostgreSQL does to count an unfiltered list (its estimate is 90 % of the table or
    more: an index would read as many entries, and PostgreSQL rightly prefers the table)."""
    scans, whole = [], []
    for line in detail.splitlines():
        words = line.replace("->", " ").split()
        if sqlite and len(words) == 2 and words[0] == "SCAN" and words[1] in LARGE:
            scans.append(words[1])  # "SCAN runs" (with an index it says "USING ... INDEX")
        if not sqlite and "Seq Scan on" in line:
            table = line.split("Seq Scan on", 1)[1].split()[0]
            if table not in LARGE:
                continue
            estimate = re.search(r"rows=(\d+)", line)
            size = sizes.get(table, 0.0)
            if estimate and size > 0 and int(estimate.group(1)) >= 0.9 * size:
                whole.append(table)
            else:
                scans.append(table)
    return scans, whole


def table_sizes(engine: Engine) -> dict[str, float]:
    """PostgreSQL's row count estimate of each large table (exact after ``ANALYZE``)."""
    if is_sqlite(engine):
        return {}
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT relname, reltuples FROM pg_class WHERE relkind = 'r'"
        ).all()
    return {str(name): float(n) for name, n in rows if name in LARGE}


def unserved_filters(sqlite: bool, sql: str, detail: str) -> list[str]:
    """The equality filters on a user, workflow or version id of a large table when the
    plan's index lookups narrow by none of them: such a query walks every row of the
    environment (an index on ``environment`` alone is no better than a full scan) and
    filters as it goes. One of them served is enough (a version implies its workflow; a
    user's runs are few)."""
    out = []
    by_table: dict[str, list[str]] = {}
    for table, column in sorted(set(SELECTIVE.findall(sql))):
        if table in LARGE:
            by_table.setdefault(table, []).append(column)
    for table, columns in by_table.items():
        if sqlite:
            conds = [
                ln.split("(", 1)[1]
                for ln in detail.splitlines()
                if ln.startswith(f"SEARCH {table} ") and "(" in ln
            ]
            used = any(f"{column}=" in c for c in conds for column in columns)
        else:
            conds = [
                ln for ln in detail.splitlines() if "Index Cond:" in ln or "Recheck Cond:" in ln
            ]
            used = any(column in c for c in conds for column in columns)
        if not used:
            out += [f"{table}.{column}" for column in columns]
    return out


def has_sort(sqlite: bool, detail: str) -> bool:
    if sqlite:
        return "TEMP B-TREE" in detail
    return any(
        ln.strip().removeprefix("->").strip().startswith("Sort") for ln in detail.splitlines()
    )


def plans(
    database_url: str,
    secret_key: str,
    key: str,
    todo: list[tuple[str, str]],
    *,
    force_index: bool = False,
) -> list[Plan]:
    """Make each call once in this process, recording its SQL, and explain each statement
    that reads a large table. ``force_index``: on PostgreSQL, ask whether an index *can*
    serve it (``enable_seqscan = off``), as a small table's plan would otherwise scan it."""
    from solder.api.app import create_app
    from solder.runtime import services as services_mod

    settings = Settings(database_url=database_url, secret_key=secret_key)  # type: ignore[arg-type]
    services = services_mod.build(settings, upgrade=False)
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        seen.append((statement, params))

    engines = {id(services.engine): services.engine, id(services.reader): services.reader}
    for eng in engines.values():
        event.listen(eng, "before_cursor_execute", record)
    out: list[Plan] = []
    sizes = table_sizes(services.engine)
    app = create_app(services, workers=False)

    async def each() -> None:
        transport = httpx2.ASGITransport(app=app)
        auth = {"Authorization": f"Bearer {key}"}
        async with httpx2.AsyncClient(
            transport=transport, base_url="http://bench", headers=auth
        ) as client:
            for name, path in todo:
                seen.clear()
                resp = await client.get(path)
                if resp.status_code != 200:
                    raise harness.BenchError(f"{name}: HTTP {resp.status_code} {resp.text[:200]}")
                done: set[str] = set()
                for sql, params in list(seen):
                    if not _reads_large(sql) or sql in done:
                        continue
                    done.add(sql)
                    detail = explain(services.engine, sql, params, force_index=force_index)
                    sqlite = is_sqlite(services.engine)
                    scans, whole = full_scans(sqlite, detail, sizes)
                    out.append(
                        Plan(
                            name,
                            " ".join(sql.split()),
                            scans,
                            unserved_filters(sqlite, sql, detail),
                            has_sort(sqlite, detail),
                            detail,
                            whole,
                        )
                    )

    try:
        asyncio.run(each())
    finally:
        for eng in engines.values():
            event.remove(eng, "before_cursor_execute", record)
        services.close()
    return out


# --- timing -------------------------------------------------------------------------------


def time_calls(
    base: str, key: str, todo: list[tuple[str, str]], repeat: int
) -> list[dict[str, Any]]:
    """Each call as the dashboard makes it (session cookie and header), timed ``repeat`` times."""
    out = []
    with httpx2.Client(base_url=base, timeout=120) as client:
        login = client.post("/dashboard/session", json={"key": key})
        if login.status_code != 200:
            raise harness.BenchError(f"dashboard login: HTTP {login.status_code}")
        for name, path in todo:
            took = []
            body: Any = None
            for i in range(repeat + 2):
                t0 = time.perf_counter()
                resp = client.get(path, headers={HEADER: ENV})
                ms = (time.perf_counter() - t0) * 1000
                if resp.status_code != 200:
                    raise harness.BenchError(f"{name}: HTTP {resp.status_code} {resp.text[:200]}")
                if i >= 2:
                    took.append(ms)
                body = resp.json()
            took.sort()
            rows = body.get("data")
            out.append(
                {
                    "call": name,
                    "path": path,
                    "rows": len(rows) if isinstance(rows, list) else 1,
                    "total": body.get("totalItems"),
                    "p50_ms": round(statistics.median(took), 2),
                    "p95_ms": round(took[min(len(took) - 1, int(len(took) * 0.95))], 2),
                    "max_ms": round(took[-1], 2),
                }
            )
    return out


async def bench(stack: harness.Stack, args: argparse.Namespace) -> dict[str, Any]:
    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            if conn.execute(select(tables.runs.c.id).limit(1)).first() is not None:
                raise harness.BenchError("--database-url must name an empty database")
        seeded = seed(
            engine, args.users, args.runs, log=lambda m: print(m, file=sys.stderr, flush=True)
        )
    finally:
        engine.dispose()
    todo = calls(seeded, args.users)
    found = await asyncio.to_thread(
        plans, stack.database_url, stack.env["SOLDER_SECRET_KEY"], stack.key, todo
    )
    timed = time_calls(stack.base, stack.key, todo, args.repeat)
    scans = [p for p in found if not p.ok]
    checks = [
        harness.Check(f"{t['call']} p95", t["p95_ms"], TARGET_P95_MS, unit="ms") for t in timed
    ]
    checks.append(
        harness.Check("statements reading a large table without a fitting index", len(scans), 1)
    )
    return {
        "users": args.users,
        "runs": args.runs,
        "rows": seeded.counts,
        "seed_s": seeded.seconds,
        "repeat": args.repeat,
        "calls": timed,
        "plans": [p.as_dict() for p in found],
        "without_index": [p.as_dict() for p in scans],
        "checks": [c.as_dict() for c in checks],
    }


def main() -> int:
    ap = harness.parser(__doc__ or "", timeout=3600)
    ap.add_argument("--users", type=int, default=10_000, help="users, one installation each")
    ap.add_argument("--runs", type=int, default=100_000, help="runs (each with an event)")
    ap.add_argument("--repeat", type=int, default=30, help="timed calls of each kind")
    args = ap.parse_args()
    if args.users < 25 or args.runs < 100:
        ap.error("--users must be at least 25 and --runs at least 100")
    return harness.run("dashboard", args, bench, workers=False)


if __name__ == "__main__":
    sys.exit(main())
