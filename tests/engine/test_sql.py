"""The SQL destination block against the real PostgreSQL and MariaDB on this machine.

Every database test runs on both servers and makes (and drops) its own table. Without a
reachable server those tests fail under CI and skip elsewhere, saying how to start it. The
error-mapping and name tests need no server: they use constructed driver errors, URLs to a
closed port, or a socket that accepts and never answers.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import psycopg
import pymysql
import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    func,
    select,
    text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from solder.engine import sql
from solder.errors import FatalError, ReconnectNeeded, RetryableError, StepError

CANARY = "canary-Pw-7f3e9a1c"
SERVERS = {
    "postgresql": (
        os.environ.get("SOLDER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    ),
    "mariadb": (
        os.environ.get("SOLDER_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/test"),
        "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
    ),
}


@dataclass
class Db:
    kind: str
    url: str
    admin: Engine
    made: list[Table]

    def table(self, *columns: Any) -> Table:
        """A new table with a unique name; dropped when the test ends (see the fixture)."""
        name = "solder_t_" + secrets.token_hex(5)
        table = Table(name, MetaData(), *columns)
        table.create(self.admin)
        self.made.append(table)
        return table

    def rows(self, table: Table) -> list[dict[str, Any]]:
        with self.admin.connect() as conn:
            result = conn.execute(select(table).order_by(*table.primary_key.columns))
            return [dict(r._mapping) for r in result]

    def count(self, table: Table) -> int:
        with self.admin.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def url_with(self, **parts: Any) -> str:
        return make_url(self.url).set(**parts).render_as_string(hide_password=False)


@pytest.fixture(params=sorted(SERVERS))
def db(request: pytest.FixtureRequest) -> Iterator[Db]:
    url, start = SERVERS[request.param]
    admin = create_engine(sql._parse_url(url))
    try:
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except OperationalError as exc:
        admin.dispose()
        message = (
            f"{request.param} at {make_url(url).render_as_string()} is not reachable "
            f"({type(exc).__name__}); start it with: {start}"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    found = Db(request.param, url, admin, made=[])
    try:
        yield found
    finally:
        sql.dispose_all()
        for table in found.made:
            table.drop(admin, checkfirst=True)
        admin.dispose()


def people(db: Db) -> Table:
    return db.table(
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("email", String(40), unique=True),
        Column("name", String(20)),
        Column("n", Integer),
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assert_no_canary(err: BaseException) -> None:
    shown = "".join(traceback.format_exception(err)) + repr(err) + repr(vars(err))
    assert CANARY not in shown
    assert err.__context__ is None
    assert err.__cause__ is None


# --- writing -------------------------------------------------------------------------------


def test_insert_several_rows(db: Db) -> None:
    t = people(db)
    rows = [{"id": i, "email": f"p{i}@x.test", "name": f"P{i}", "n": i * 10} for i in (1, 2, 3)]
    out = sql.write_rows(db.url, t.name, rows)
    assert out == {"table": t.name, "mode": "insert", "rows": 3,
                   "statements": 1}  # fmt: skip
    Draft202012Validator(sql.OUTPUT_SCHEMA).validate(out)
    assert db.rows(t) == rows


def test_rows_of_different_shapes_keep_defaults(db: Db) -> None:
    t = people(db)
    sql.write_rows(db.url, t.name, [{"id": 1, "name": "A"}, {"id": 2, "n": 5}, {"id": 3}])
    assert [(r["id"], r["name"], r["n"]) for r in db.rows(t)] == [
        (1, "A", None),
        (2, None, 5),
        (3, None, None),
    ]


def test_single_object_is_one_row(db: Db) -> None:
    t = people(db)
    out = sql.write_rows(db.url, t.name, {"id": 7, "name": "Solo"})
    assert out["rows"] == 1
    assert [(r["id"], r["name"]) for r in db.rows(t)] == [(7, "Solo")]


def test_upsert_twice_leaves_one_row_per_key_with_new_values(db: Db) -> None:
    t = people(db)
    first = [{"id": i, "email": f"p{i}@x.test", "name": f"P{i}", "n": i} for i in (1, 2, 3)]
    sql.write_rows(db.url, t.name, first, mode="upsert", key_columns=["id"])
    sql.write_rows(db.url, t.name, first, mode="upsert", key_columns=["id"])
    assert db.rows(t) == first
    # only the columns given change; the same key twice in one call: the later value wins
    again: list[dict[str, Any]] = [
        {"id": 2, "name": "two"},
        {"id": 4, "name": "four"},
        {"id": 2, "n": 22},
    ]
    out = sql.write_rows(db.url, t.name, again, mode="upsert", key_columns=["id"])
    assert out["rows"] == 3  # in a statement per shape of row
    assert [(r["id"], r["name"], r["n"]) for r in db.rows(t)] == [
        (1, "P1", 1),
        (2, "two", 22),
        (3, "P3", 3),
        (4, "four", None),
    ]


def test_upsert_by_unique_index(db: Db) -> None:
    t = db.table(
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("email", String(40), nullable=False),
        Column("name", String(20)),
        UniqueConstraint("email"),
    )
    for name in ("first", "second"):
        rows = [{"email": "a@x.test", "name": name}, {"email": "b@x.test", "name": name}]
        sql.write_rows(db.url, t.name, rows, mode="upsert", key_columns=["email"])
    assert sorted((r["email"], r["name"]) for r in db.rows(t)) == [
        ("a@x.test", "second"),
        ("b@x.test", "second"),
    ]


def test_upsert_with_only_key_columns_is_a_no_op_for_existing_rows(db: Db) -> None:
    t = people(db)
    sql.write_rows(db.url, t.name, [{"id": 1, "name": "kept"}])
    sql.write_rows(db.url, t.name, [{"id": 1}, {"id": 2}], mode="upsert", key_columns=["id"])
    assert [(r["id"], r["name"]) for r in db.rows(t)] == [(1, "kept"), (2, None)]


def test_values_of_every_json_type(db: Db) -> None:
    t = db.table(
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("doc", JSON),
        Column("note", Text),
        Column("flag", Boolean),
        Column("amount", Numeric(10, 2)),
        Column("qty", Integer),
        Column("label", String(20)),
        Column("at", DateTime),
        Column("on_day", Date),
    )
    rows: list[dict[str, Any]] = [
        {
            "id": 1,
            "doc": {"a": [1, 2, {"b": None}], "s": "é"},
            "note": {"kept": "as JSON text"},
            "flag": True,
            "amount": 12.5,
            "qty": 3,
            "label": "plain",
            "at": "2024-05-01T12:30:00+02:00",
            "on_day": "2024-05-01",
        },
        {"id": 2, "doc": [1, "two"], "note": None, "flag": False, "amount": "0.10", "qty": 0},
        {"id": 3, "doc": None, "at": "2024-05-01T10:30:00Z", "on_day": "2024-05-02T23:59:00Z"},
        {"id": 4, "at": "2024-05-01 08:00:00", "label": None, "flag": None},
        {"id": 5, "at": datetime(2024, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))},
    ]
    sql.write_rows(db.url, t.name, rows)
    got = {r["id"]: r for r in db.rows(t)}
    doc = got[1]["doc"]
    assert (json.loads(doc) if isinstance(doc, str) else doc) == rows[0]["doc"]
    assert json.loads(got[1]["note"]) == {"kept": "as JSON text"}
    assert bool(got[1]["flag"]) is True
    assert bool(got[2]["flag"]) is False
    assert got[1]["amount"] == Decimal("12.50")
    assert got[2]["amount"] == Decimal("0.10")
    assert (got[1]["qty"], got[2]["qty"], got[1]["label"]) == (3, 0, "plain")
    doc2 = got[2]["doc"]
    assert (json.loads(doc2) if isinstance(doc2, str) else doc2) == [1, "two"]
    assert got[1]["at"] == datetime(2024, 5, 1, 10, 30)  # the offset counts: stored in UTC
    assert got[3]["at"] == datetime(2024, 5, 1, 10, 30)
    assert got[4]["at"] == datetime(2024, 5, 1, 8, 0)
    assert got[5]["at"] == datetime(2024, 5, 1, 10, 30)
    assert (got[1]["on_day"], got[3]["on_day"]) == (date(2024, 5, 1), date(2024, 5, 2))
    with db.admin.connect() as conn:  # None is SQL NULL, not JSON null
        nulls = conn.execute(select(t.c.id).where(t.c.doc.is_(None)).order_by(t.c.id)).all()
    assert [r.id for r in nulls] == [3, 4, 5]
    assert got[2]["note"] is None
    assert got[4]["label"] is None
    assert got[4]["flag"] is None


def test_timestamp_with_zone_keeps_the_instant(db: Db) -> None:
    # PostgreSQL's timestamptz; MariaDB's TIMESTAMP (read in the session's zone, ours is UTC)
    zoned = DateTime(timezone=True).with_variant(mysql.TIMESTAMP(), "mysql", "mariadb")
    t = db.table(Column("id", Integer, primary_key=True), Column("at", zoned, nullable=True))
    sql.write_rows(db.url, t.name, [{"id": 1, "at": "2024-05-01T12:00:00+02:00"}])
    with db.admin.connect() as conn:
        if db.kind == "postgresql":
            got = conn.execute(text(f"SELECT at FROM {t.name}")).scalar()
            assert got == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
        else:
            epoch = conn.execute(text(f"SELECT UNIX_TIMESTAMP(at) FROM {t.name}")).scalar()
            assert epoch == datetime(2024, 5, 1, 10, 0, tzinfo=UTC).timestamp()
            # ...which holds on any server only because the writer's session is in UTC
            writer = sql._cached(sql._parse_url(db.url)).engine
            with writer.connect() as mine:
                assert mine.execute(text("SELECT @@session.time_zone")).scalar() == "+00:00"


def test_names_are_quoted_by_the_dialect(db: Db) -> None:
    name = 'Odd `name" ' + secrets.token_hex(3)
    t = Table(
        name,
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("select", String(40)),
        Column("Mixed Case; --", String(40)),
    )
    t.create(db.admin)
    db.made.append(t)
    row = {"id": 1, "select": "x'); drop table t; --", "Mixed Case; --": "y"}
    sql.write_rows(db.url, name, [row], mode="upsert", key_columns=["id"])
    assert db.rows(t) == [row]


def test_a_column_added_after_the_table_was_cached_is_found(db: Db) -> None:
    t = people(db)
    sql.write_rows(db.url, t.name, [{"id": 1}])
    with db.admin.begin() as conn:
        conn.execute(text(f"ALTER TABLE {t.name} ADD COLUMN extra INTEGER"))
    sql.write_rows(db.url, t.name, [{"id": 2, "extra": 5}])
    with db.admin.connect() as conn:
        assert conn.execute(text(f"SELECT extra FROM {t.name} WHERE id = 2")).scalar() == 5


def test_schema_is_honoured(db: Db) -> None:
    t = people(db)
    schema = "public" if db.kind == "postgresql" else make_url(db.url).database
    assert schema
    sql.write_rows(db.url, t.name, [{"id": 1}], schema=schema)
    assert db.count(t) == 1
    with pytest.raises(FatalError) as err:
        sql.write_rows(db.url, t.name, [{"id": 2}], schema="solder_no_such_schema")
    assert err.value.field == "table"
    assert "solder_no_such_schema" in err.value.message


def test_concurrent_upserts_of_the_same_keys_leave_one_row_per_key(db: Db) -> None:
    t = people(db)
    keys = range(1, 21)
    start = threading.Barrier(4)
    problems: list[BaseException] = []

    def worker(me: int) -> None:
        start.wait()
        for round_ in range(5):
            rows = [{"id": k, "name": f"w{me}r{round_}", "n": me} for k in keys]
            for attempt in range(20):  # what the engine does with a RetryableError
                try:
                    sql.write_rows(db.url, t.name, rows, mode="upsert", key_columns=["id"])
                    break
                except RetryableError:
                    time.sleep(0.02 * (attempt + 1))
                except BaseException as exc:
                    problems.append(exc)
                    return
            else:
                problems.append(AssertionError(f"worker {me} never got through"))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not problems
    got = db.rows(t)
    assert [r["id"] for r in got] == list(keys)
    assert all(r["name"].endswith("r4") for r in got)


# --- refusals ------------------------------------------------------------------------------


def test_unknown_table_is_named(db: Db) -> None:
    with pytest.raises(FatalError) as err:
        sql.write_rows(db.url, "solder_no_such_table", [{"id": 1}])
    assert err.value.field == "table"
    assert "solder_no_such_table" in err.value.message


def test_unknown_column_names_column_and_row_and_writes_nothing(db: Db) -> None:
    t = people(db)
    rows = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "Name": "c"}]
    with pytest.raises(FatalError) as err:
        sql.write_rows(db.url, t.name, rows)
    assert err.value.field == "rows"
    assert "rows[2]" in err.value.message
    assert "'Name'" in err.value.message
    assert "did you mean 'name'" in err.value.message
    assert db.count(t) == 0


def test_refused_value_names_column_and_row_and_writes_nothing(db: Db) -> None:
    t = people(db)
    rows = [{"id": 1, "name": "a", "n": 1}, {"id": 2, "name": "b", "n": "not a number"}]
    with pytest.raises(FatalError) as err:
        sql.write_rows(db.url, t.name, rows)
    assert err.value.field == "rows"
    assert "rows[1].n" in err.value.message
    assert db.count(t) == 0


def test_too_long_value_names_column_and_row(db: Db) -> None:
    t = people(db)
    rows = [{"id": 1, "name": "short"}, {"id": 2, "name": "x" * 21}]
    with pytest.raises(FatalError) as err:
        sql.write_rows(db.url, t.name, rows)
    assert "rows[1].name" in err.value.message
    assert db.count(t) == 0


def test_duplicate_insert_is_fatal_and_says_why(db: Db) -> None:
    t = people(db)
    sql.write_rows(db.url, t.name, [{"id": 1}])
    with pytest.raises(FatalError) as err:
        sql.write_rows(db.url, t.name, [{"id": 1}])
    assert err.value.field == "rows"
    assert "rows[0]" in err.value.message
    assert "uplicate" in err.value.message


@pytest.mark.parametrize(
    ("keys", "named"),
    [(["name"], "name"), (["email", "name"], "email"), (["nope"], "nope"), (None, "upsert")],
)
def test_upsert_key_must_be_a_unique_key(db: Db, keys: list[str] | None, named: str) -> None:
    t = people(db)
    with pytest.raises(FatalError) as err:
        sql.write_rows(db.url, t.name, [{"id": 1, "name": "a"}], mode="upsert", key_columns=keys)
    assert err.value.field == "keyColumns"
    assert "keyColumns" in err.value.message
    assert named in err.value.message
    assert db.count(t) == 0


def test_upsert_row_without_its_key_is_refused(db: Db) -> None:
    t = people(db)
    rows: list[dict[str, Any]] = [{"id": 1}, {"name": "no id"}]
    with pytest.raises(FatalError) as err:
        sql.write_rows(db.url, t.name, rows, mode="upsert", key_columns=["id"])
    assert err.value.field == "rows"
    assert "rows[1]" in err.value.message
    assert "'id'" in err.value.message


@pytest.mark.parametrize(
    "rows", [[], "text", [1], [{}], [{"a\x00": 1}]], ids=["empty", "text", "int", "blank", "nul"]
)
def test_row_shapes(rows: Any) -> None:
    url = f"postgresql://u:{CANARY}@127.0.0.1:{closed_port()}/db"
    if rows == []:
        assert sql.write_rows(url, "t", rows) == {
            "table": "t", "mode": "insert", "rows": 0, "statements": 0}  # fmt: skip
        return
    with pytest.raises(FatalError) as err:  # refused before connecting: not a RetryableError
        sql.write_rows(url, "t", rows)
    assert err.value.field == "rows"


# --- connections and secrets ---------------------------------------------------------------


def test_connection_refused_is_retryable_and_hides_the_password(db: Db) -> None:
    url = db.url_with(password=CANARY, port=closed_port())
    with pytest.raises(RetryableError) as err:
        sql.write_rows(url, "t", [{"id": 1}])
    assert "***" in err.value.message
    assert "127.0.0.1" in err.value.message
    assert_no_canary(err.value)


def test_refused_credentials_need_reconnect_and_hide_the_password(
    db: Db, caplog: pytest.LogCaptureFixture
) -> None:
    # PostgreSQL here trusts every local login, so an unknown role is what it refuses;
    # MariaDB refuses root with a password it does not have.
    user = "solder_no_such_role" if db.kind == "postgresql" else "root"
    url = db.url_with(username=user, password=CANARY)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ReconnectNeeded) as err:
        sql.write_rows(url, "t", [{"id": 1}])
    assert err.value.field == "connectionUrl"
    assert_no_canary(err.value)
    assert caplog.records
    assert CANARY not in caplog.text


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_server_that_never_answers_fails_fast(scheme: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql, "CONNECT_TIMEOUT", 2)  # libpq's minimum
    monkeypatch.setattr(sql, "MYSQL_IO_TIMEOUT", 1)
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen(8)  # the kernel completes the handshake; nobody ever answers
        url = f"{scheme}://u:{CANARY}@127.0.0.1:{mute.getsockname()[1]}/db"
        began = time.monotonic()
        try:
            with pytest.raises(RetryableError) as err:
                sql.write_rows(url, "t", [{"id": 1}])
        finally:
            sql.dispose_all()
    assert time.monotonic() - began < 10
    assert_no_canary(err.value)


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        f"sqlite:///{CANARY}.db",
        f"oracle://u:{CANARY}@h/db",
        f"mysql://u:{CANARY}@h:port/db",
        "",
    ],
)
def test_bad_urls_are_fatal_without_the_password(url: str) -> None:
    with pytest.raises(FatalError) as err:
        sql.write_rows(url, "t", [{"id": 1}])
    assert err.value.field == "connectionUrl"
    assert_no_canary(err.value)


@pytest.mark.parametrize(
    ("field", "name"),
    [
        ("table", "a\x00b"),
        ("table", "t" * 65),
        ("table", ""),
        ("schema", "s\x00"),
        ("keyColumns", "k" * 65),
        ("rows", "c" * 65),
    ],
)
def test_bad_names_are_refused_before_connecting(field: str, name: str) -> None:
    url = f"mysql://u:{CANARY}@127.0.0.1:{closed_port()}/db"
    args: dict[str, Any] = {"table": "t", "rows": [{"id": 1}], "schema": None}
    keys = ["id"]
    if field == "keyColumns":
        keys = [name]
    elif field == "rows":
        args["rows"] = [{"id": 1, name: 2}]
    else:
        args[field] = name
    with pytest.raises(FatalError) as err:
        sql.write_rows(url, args["table"], args["rows"], schema=args["schema"], mode="upsert",
                       key_columns=keys)  # fmt: skip
    assert err.value.field == field
    assert len(err.value.message) < 300


def test_postgresql_names_are_limited_to_63_bytes() -> None:
    port = closed_port()
    with pytest.raises(FatalError):
        sql.write_rows(f"postgresql://u@127.0.0.1:{port}/db", "t" * 64, [{"id": 1}])
    with pytest.raises(RetryableError):  # MySQL allows 64 characters: past the check
        sql.write_rows(f"mysql://u@127.0.0.1:{port}/db", "t" * 64, [{"id": 1}])


# --- the error map and the engine cache, without a server ----------------------------------

PG_TARGET = sql.Target.of(make_url(f"postgresql+psycopg://u:{CANARY}@h/db"), "t")
MY_TARGET = sql.Target.of(make_url(f"mysql+pymysql://u:{CANARY}@h/db"), "t")
PG = psycopg.errors
AUTH_TEXT = f'FATAL: password authentication failed for user "u" {CANARY}'
RETRY, RECONNECT, FATAL = RetryableError, ReconnectNeeded, FatalError


def my(number: int, message: str = "") -> pymysql.err.OperationalError:
    return pymysql.err.OperationalError(number, message or f"error {number}")


@pytest.mark.parametrize(
    ("target", "orig", "expected", "field"),
    [
        (PG_TARGET, PG.DeadlockDetected("deadlock detected"), RETRY, None),
        (PG_TARGET, PG.SerializationFailure("could not serialize"), RETRY, None),
        (PG_TARGET, PG.AdminShutdown("terminating connection"), RETRY, None),
        (PG_TARGET, PG.TooManyConnections("too many clients"), RETRY, None),
        (PG_TARGET, PG.LockNotAvailable("could not obtain lock"), RETRY, None),
        (PG_TARGET, PG.QueryCanceled("statement timeout"), RETRY, None),
        (PG_TARGET, psycopg.OperationalError("connection timeout expired"), RETRY, None),
        (PG_TARGET, PG.InvalidPassword("bad password"), RECONNECT, "connectionUrl"),
        (PG_TARGET, psycopg.OperationalError(AUTH_TEXT), RECONNECT, "connectionUrl"),
        (PG_TARGET, PG.UndefinedTable('relation "t" does not exist'), FATAL, "table"),
        (PG_TARGET, PG.UndefinedColumn('column "x" does not exist'), FATAL, "rows"),
        (PG_TARGET, PG.NotNullViolation("null value in column"), FATAL, "rows"),
        (PG_TARGET, PG.InsufficientPrivilege("permission denied"), FATAL, None),
        (MY_TARGET, my(1213, "Deadlock found"), RETRY, None),
        (MY_TARGET, my(1205, "Lock wait timeout exceeded"), RETRY, None),
        (MY_TARGET, my(2003, "Can't connect (timed out)"), RETRY, None),
        (MY_TARGET, my(2006, "MySQL server has gone away"), RETRY, None),
        (MY_TARGET, my(2013, "Lost connection"), RETRY, None),
        (MY_TARGET, my(1040, "Too many connections"), RETRY, None),
        (MY_TARGET, my(1045, f"Access denied {CANARY}"), RECONNECT, "connectionUrl"),
        (MY_TARGET, pymysql.err.ProgrammingError(1146, "Table 't' doesn't exist"), FATAL, "table"),
        (MY_TARGET, my(1054, "Unknown column 'x' in 'INSERT INTO'"), FATAL, "rows"),
        (MY_TARGET, my(1049, "Unknown database 'db'"), FATAL, "connectionUrl"),
        (MY_TARGET, my(1142, "INSERT command denied"), FATAL, None),
    ],
)
def test_error_map(
    target: sql.Target, orig: Exception, expected: type[StepError], field: str | None
) -> None:
    err = sql.translate(OperationalError("INSERT ...", {}, orig), target)
    assert type(err) is expected
    assert err.field == field
    assert CANARY not in err.message


def test_error_map_server_gone_and_busy_pool() -> None:
    gone = OperationalError("INSERT", {}, psycopg.errors.SyntaxError("x"))
    gone.connection_invalidated = True
    assert isinstance(sql.translate(gone, PG_TARGET), RetryableError)
    assert isinstance(sql.translate(PoolTimeout("pool busy"), MY_TARGET), RetryableError)


def test_engines_are_cached_per_url_in_a_bounded_lru() -> None:
    sql.dispose_all()
    try:
        urls = [sql._parse_url(f"postgresql://u@127.0.0.1:{6000 + i}/db") for i in range(40)]
        first = sql._cached(urls[0])
        assert sql._cached(urls[0]) is first
        assert first.engine.pool.size() == sql.POOL_SIZE == 2  # type: ignore[attr-defined]
        for url in urls[1:]:
            sql._cached(url)
        assert len(sql._engines) == sql.MAX_ENGINES
        assert sql._cached(urls[0]) is not first  # evicted, so made anew
    finally:
        sql.dispose_all()
    assert not sql._engines


def test_input_schema() -> None:
    Draft202012Validator.check_schema(sql.INPUT_SCHEMA)
    check = Draft202012Validator(sql.INPUT_SCHEMA)
    url = sql.INPUT_SCHEMA["properties"]["connectionUrl"]
    assert url["writeOnly"] is True
    assert "secret" in url["description"]
    assert check.is_valid({"table": "t", "rows": {"id": 1}})
    assert check.is_valid(
        {"table": "t", "rows": [{"id": 1}], "mode": "upsert", "keyColumns": ["id"]}
    )
    assert not check.is_valid({"table": "t", "rows": [{"id": 1}], "mode": "upsert"})
    assert not check.is_valid({"rows": [{"id": 1}]})
    assert not check.is_valid({"table": "t", "rows": [1]})
    assert not check.is_valid({"table": "t", "rows": [], "mode": "replace"})
