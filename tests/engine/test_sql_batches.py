"""The SQL block's batches, on the machine's PostgreSQL and MariaDB: one multi-row INSERT per
``batchSize`` rows, and what a repeated call does in each mode.

The statements are counted on the block's own cached engine (SQLAlchemy's
``before_cursor_execute`` event), so what is checked is what reached the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Column, Integer, String, event

from solder.engine import sql
from solder.errors import FatalError
from tests.engine.test_sql import Db, db, people  # noqa: F401 - db is a fixture


@pytest.fixture
def statements(db: Db) -> Iterator[list[tuple[str, bool]]]:  # noqa: F811
    """(statement's first word, executemany) for each statement the block sends to ``db``."""
    engine = sql._cached(sql._parse_url(db.url)).engine
    seen: list[tuple[str, bool]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        seen.append((statement.split(None, 1)[0].upper(), many))

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def rows(count: int, start: int = 0, name: str = "P") -> list[dict[str, Any]]:
    return [{"id": i, "email": f"p{i}@x.test", "name": f"{name}{i}", "n": i} for i in
            range(start, start + count)]  # fmt: skip


def inserts(seen: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    return [s for s in seen if s[0] == "INSERT"]


def test_rows_go_in_one_statement_per_batch(
    db: Db,  # noqa: F811
    statements: list[tuple[str, bool]],
) -> None:
    t = people(db)
    out = sql.write_rows(db.url, t.name, rows(1000), batch_size=100)
    assert out == {"table": t.name, "mode": "insert", "rows": 1000, "statements": 10}
    assert inserts(statements) == [("INSERT", False)] * 10
    assert db.rows(t) == rows(1000)
    statements.clear()
    sql.write_rows(db.url, t.name, rows(1200, 1000), mode="upsert", key_columns=["id"])
    assert len(inserts(statements)) == 3  # the default batch: 500 rows


def test_a_batch_never_passes_the_parameter_limit(
    db: Db,  # noqa: F811
    statements: list[tuple[str, bool]],
) -> None:
    t = db.table(
        Column("id", Integer, primary_key=True, autoincrement=False),
        *[Column(f"c{i}", Integer) for i in range(39)],
    )
    wide = [{"id": r, **{f"c{i}": i for i in range(39)}} for r in range(2000)]
    sql.write_rows(db.url, t.name, wide, batch_size=10_000)
    assert len(inserts(statements)) == 2  # 65,535 // 40 columns = 1,638 rows a statement
    assert db.count(t) == 2000


def test_rows_of_another_shape_start_a_new_statement(
    db: Db,  # noqa: F811
    statements: list[tuple[str, bool]],
) -> None:
    t = people(db)
    mixed = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3}, {"id": 4, "name": "d"}]
    sql.write_rows(db.url, t.name, mixed, batch_size=10)
    assert len(inserts(statements)) == 3
    assert [(r["id"], r["name"]) for r in db.rows(t)] == [(1, "a"), (2, "b"), (3, None), (4, "d")]


def test_insert_with_key_columns_skips_rows_already_there(db: Db) -> None:  # noqa: F811
    """A repeat (a crash after the commit) adds nothing; new keys are added; the first row
    of a key is kept."""
    t = people(db)
    sql.write_rows(db.url, t.name, rows(300), key_columns=["id"], batch_size=50)
    again = rows(310, name="changed-")
    out = sql.write_rows(db.url, t.name, again, key_columns=["id"], batch_size=50)
    assert out == {"table": t.name, "mode": "insert", "rows": 310, "statements": 7}
    assert db.rows(t) == rows(300) + rows(10, 300, name="changed-")
    sql.write_rows(db.url, t.name, [{"id": 900, "name": "first"}, {"id": 900, "name": "second"}],
                   key_columns=["id"])  # fmt: skip
    assert db.rows(t)[-1]["name"] == "first"


def test_insert_without_key_columns_repeats_rows(db: Db) -> None:  # noqa: F811
    """Documented: a plain insert is not idempotent; the table's own key refuses the repeat."""
    t = db.table(Column("n", Integer), Column("label", String(10)))
    sql.write_rows(db.url, t.name, [{"n": 1, "label": "a"}])
    sql.write_rows(db.url, t.name, [{"n": 1, "label": "a"}])
    assert db.count(t) == 2
    p = people(db)
    sql.write_rows(db.url, p.name, rows(3))
    with pytest.raises(FatalError, match="uplicate"):
        sql.write_rows(db.url, p.name, rows(3))


def test_a_refused_value_in_a_later_batch_names_its_row_and_writes_nothing(
    db: Db,  # noqa: F811
) -> None:
    t = people(db)
    bad = rows(300)
    bad[250]["n"] = "not a number"
    with pytest.raises(FatalError) as err:
        sql.write_rows(db.url, t.name, bad, batch_size=100)
    assert err.value.field == "rows"
    assert "rows[250].n" in err.value.message
    assert db.count(t) == 0


@pytest.mark.parametrize("size", [0, 10_001, "100", True])
def test_a_bad_batch_size_is_named(size: Any) -> None:
    with pytest.raises(FatalError) as err:
        sql.write_rows("postgresql://u@127.0.0.1/x", "t", [{"a": 1}], batch_size=size)
    assert err.value.field == "batchSize"
    assert err.value.message.startswith("inputs.batchSize: must be")


def test_the_schema_has_batch_size() -> None:
    prop = sql.INPUT_SCHEMA["properties"]["batchSize"]
    assert (prop["default"], prop["minimum"], prop["maximum"]) == (500, 1, 10_000)
