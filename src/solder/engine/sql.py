"""The SQL destination block: insert or upsert rows into a table of someone else's database.

The database belongs to the ISV or its end user (PostgreSQL, MySQL or MariaDB), so nothing is
assumed about it: the target table is reflected and every row is checked against its columns
before a statement is sent, and a bad row fails the run with a message naming the row and
column instead of a driver traceback.

One call is one transaction, so a call writes all of its rows or none. Rows are sent in
batches: one multi-row ``INSERT ... VALUES (...), (...)`` statement per ``batchSize`` rows
(500 by default; fewer when the columns would pass PostgreSQL's 65,535 parameters), rows of
another set of columns starting a new statement. An upsert is the dialect's own statement
(``ON CONFLICT ... DO UPDATE`` / ``ON DUPLICATE KEY UPDATE``), never a read-then-write, so
running a block twice or from several workers at once leaves one row per key. Its rows are
merged per key and sent in key order, so two calls upserting the same keys take their row
locks in the same order. On MySQL/MariaDB the statement fires on *any* unique key of the
table, so ``keyColumns`` must name one; the check is the same on PostgreSQL, where ``ON
CONFLICT`` needs it anyway.

What a repeat does (a crash after the commit and before the step's result was stored, or a
block run twice): ``upsert`` leaves the rows as one run would. ``insert`` with
``keyColumns`` skips a row whose key is already there (``ON CONFLICT DO NOTHING``; on
MySQL/MariaDB an update of the key to itself), keeping the first row of a key, so a repeat
adds nothing. ``insert`` without ``keyColumns`` is a plain insert: a repeat writes the rows
again (or fails on the table's own unique key), so it is not idempotent; give
``keyColumns`` when that matters.

Every driver failure goes through ``sql_errors.translate``, the one place errors are mapped::

    connection refused or timed out, server gone, deadlock,
    lock wait, serialization failure, too many connections  -> RetryableError
    credentials refused (password, unknown user)            -> ReconnectNeeded
    unknown table / schema / column, refused value,
    constraint violation, anything else                      -> FatalError (field = the input)

The connection URL carries a password. URLs are shown only with ``hide_password``, messages
are scrubbed of the password, and errors are raised outside the ``except`` block that caught
the driver's exception, so they hold no reference to it (psycopg's error keeps the connection
parameters, password included).

Engines are cached per URL (a small LRU, two pooled connections each, pre-ping, 5 s connect
timeout) so a workflow writing every few seconds neither reconnects each time nor waits long
on a dead server; :func:`dispose_all` closes them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import quote, quote_plus
from uuid import UUID

from sqlalchemy import Connection, Engine, MetaData, Table, UniqueConstraint, create_engine, insert
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.sql.dml import Insert

from solder.engine.sql_errors import Running, translate
from solder.errors import FatalError

log = logging.getLogger(__name__)

Mode = Literal["insert", "upsert"]

CONNECT_TIMEOUT = 5
# PyMySQL reads the server's greeting under its read timeout, not the connect timeout, so
# without one a server that accepts and never answers would hang a worker for good.
MYSQL_IO_TIMEOUT = 120
POOL_SIZE = 2
POOL_TIMEOUT = 10
MAX_ENGINES = 32
REFLECTION_TTL = 60.0
MAX_TABLES_PER_ENGINE = 64
MAX_IDENTIFIER = 64
DEFAULT_BATCH = 500
MAX_BATCH = 10_000
MAX_PARAMETERS = 65_535  # PostgreSQL's limit on one statement's bind parameters
PG_MAX_IDENTIFIER_BYTES = 63  # PostgreSQL silently truncates longer names

DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mysql+pymysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
    "mariadb+pymysql": "mariadb+pymysql",
}

INPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "connectionUrl": {
            "type": "string",
            "writeOnly": True,
            "description": "postgresql://, mysql:// or mariadb:// URL, from the installation's "
            "credential or the block config; secret: never shown in logs, errors or outputs",
        },
        "table": {"type": "string", "minLength": 1, "maxLength": MAX_IDENTIFIER},
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDENTIFIER},
        "rows": {
            "description": "the rows to write; a single object is one row",
            "oneOf": [{"type": "array", "items": {"type": "object"}}, {"type": "object"}],
        },
        "mode": {"enum": ["insert", "upsert"], "default": "insert"},
        "keyColumns": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "uniqueItems": True,
            "description": "the columns of a primary key or unique index; required for upsert; "
            "with insert, rows whose key is already there are skipped",
        },
        "batchSize": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_BATCH,
            "default": DEFAULT_BATCH,
            "description": "rows per INSERT statement",
        },
    },
    "required": ["table", "rows"],
    "additionalProperties": False,
    "if": {"properties": {"mode": {"const": "upsert"}}, "required": ["mode"]},
    "then": {"required": ["keyColumns"]},
}
OUTPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "table": {"type": "string"},
        "mode": {"enum": ["insert", "upsert"]},
        "rows": {"type": "integer", "minimum": 0, "description": "input rows written"},
        "statements": {"type": "integer", "minimum": 0, "description": "INSERT statements sent"},
    },
    "required": ["table", "mode", "rows", "statements"],
    "additionalProperties": False,
}


def write_rows(
    url: str,
    table: str,
    rows: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    *,
    mode: Mode = "insert",
    key_columns: Sequence[str] | None = None,
    schema: str | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> dict[str, Any]:
    """Write ``rows`` (a list of objects, or one object) into ``table`` in one transaction.

    Every failure the input or the database can cause is a ``StepError`` (see the module
    docstring). What can be checked without the database (URL, names, mode, row shapes) is
    checked before connecting; an empty ``rows`` writes nothing and does not connect.
    ``key_columns`` names the key an upsert updates by, or an insert skips existing rows by.
    """
    parsed = _parse_url(url)
    target = Target.of(parsed, table, schema)
    _check_name(table, "table", "table", target.backend)
    if schema is not None:
        _check_name(schema, "schema", "schema", target.backend)
    if mode not in ("insert", "upsert"):
        raise FatalError(f"inputs.mode: {mode!r} is not insert or upsert", field="mode")
    keys = _key_names(key_columns, target.backend) if mode == "upsert" or key_columns else []
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise FatalError("inputs.batchSize: must be a whole number", field="batchSize")
    if not 1 <= batch_size <= MAX_BATCH:
        raise FatalError(f"inputs.batchSize: must be 1 to {MAX_BATCH}", field="batchSize")
    batch = _input_rows(rows, target.backend)
    result: dict[str, Any] = {"table": table, "mode": mode, "rows": len(batch), "statements": 0}
    if not batch:
        return result
    cached = _cached(parsed)
    running: Running | None = None
    try:
        with cached.engine.begin() as conn:
            tbl = _reflect(cached, conn, target)
            try:
                ready = _prepare(tbl, target, batch, keys, merge=mode == "upsert")
            except FatalError:
                if tbl.fresh:  # else the cached reflection may be stale: look again
                    raise
                tbl = _reflect(cached, conn, target, refresh=True)
                ready = _prepare(tbl, target, batch, keys, merge=mode == "upsert")
            for run in _runs(ready):
                per_statement = max(1, min(batch_size, MAX_PARAMETERS // len(run[0].values)))
                for start in range(0, len(run), per_statement):
                    running = Running(tbl.table, run[start : start + per_statement])
                    statement = _statement(tbl.table, target.backend, keys, running.rows, mode)
                    conn.execute(statement.values(running.params))
                    result["statements"] += 1
    except SQLAlchemyError as exc:
        cached.forget(target)
        failure = translate(exc, target, running)
    else:
        log.debug("sql %s: %d rows into %s on %s", mode, len(batch), target.name, target.url)
        return result
    log.debug("sql %s into %s on %s failed: %s", mode, target.name, target.url, failure.message)
    raise failure  # outside the except block: no reference to the driver's exception


def dispose_all() -> None:
    """Close every cached engine and forget every reflected table (shutdown, tests)."""
    with _lock:
        cached = list(_engines.values())
        _engines.clear()
    for entry in cached:
        entry.engine.dispose()


# --- where a write goes --------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where a write goes, in forms safe to show: ``url`` has its password hidden."""

    url: str
    backend: str
    table: str
    schema: str | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)  # password forms to scrub

    @classmethod
    def of(cls, url: URL, table: str, schema: str | None = None) -> Target:
        password = url.password or ""
        forms = {password, quote(password, safe=""), quote_plus(password)} - {""}
        return cls(
            url=url.render_as_string(hide_password=True),
            backend=url.get_backend_name(),
            table=table,
            schema=schema,
            secrets=tuple(sorted(forms, key=len, reverse=True)),
        )

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}" if self.schema else self.table

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def _parse_url(url: str) -> URL:
    parsed: URL | None = None
    if isinstance(url, str) and url:
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError):
            parsed = None  # its message may quote the URL, password and all
    if parsed is None:
        raise FatalError(
            "inputs.connectionUrl: not a database URL (postgresql://, mysql:// or mariadb://)",
            field="connectionUrl",
        )
    driver = DRIVERS.get(parsed.drivername)
    if driver is None:
        raise FatalError(
            f"inputs.connectionUrl: {parsed.drivername!r} is not supported; "
            "use postgresql://, mysql:// or mariadb://",
            field="connectionUrl",
        )
    return parsed.set(drivername=driver)


def _check_name(name: object, field: str, what: str, backend: str) -> str:
    """Reject names no server accepts, before they reach the dialect's quoting."""
    if not isinstance(name, str) or not name:
        raise FatalError(f"inputs.{field}: the {what} name must be a non-empty string", field=field)
    shown = repr(name if len(name) <= 40 else name[:40] + "...")
    if "\x00" in name:
        raise FatalError(f"inputs.{field}: {what} name {shown} contains NUL", field=field)
    too_long = len(name) > MAX_IDENTIFIER or (
        backend == "postgresql" and len(name.encode()) > PG_MAX_IDENTIFIER_BYTES
    )
    if too_long:
        raise FatalError(
            f"inputs.{field}: {what} name {shown} is longer than the database allows "
            f"({MAX_IDENTIFIER} characters; {PG_MAX_IDENTIFIER_BYTES} bytes on PostgreSQL)",
            field=field,
        )
    return name


def _key_names(key_columns: Sequence[str] | None, backend: str) -> list[str]:
    if isinstance(key_columns, str) or not isinstance(key_columns, Sequence) or not key_columns:
        raise FatalError(
            "inputs.keyColumns: upsert needs the list of columns that identify a row",
            field="keyColumns",
        )
    keys = [_check_name(k, "keyColumns", "key column", backend) for k in key_columns]
    if len(set(keys)) != len(keys):
        raise FatalError(f"inputs.keyColumns: {keys} repeats a column", field="keyColumns")
    return keys


@dataclass(frozen=True)
class InputRow:
    index: int  # position in the input, for messages
    values: dict[str, Any]


def _input_rows(rows: object, backend: str) -> list[InputRow]:
    if isinstance(rows, Mapping):
        rows = [rows]
    if isinstance(rows, str | bytes) or not isinstance(rows, Sequence):
        raise FatalError("inputs.rows: must be an object or a list of objects", field="rows")
    out: list[InputRow] = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise FatalError(f"inputs.rows[{i}]: must be an object", field="rows")
        if not row:
            raise FatalError(f"inputs.rows[{i}]: has no columns", field="rows")
        for name in row:
            _check_name(name, "rows", f"rows[{i}] column", backend)
        out.append(InputRow(i, dict(row)))
    return out


# --- engines and reflected tables ----------------------------------------------------------


@dataclass(frozen=True)
class _Reflected:
    table: Table
    fresh: bool  # reflected by this call, so a failed check is not a stale cache's fault


@dataclass
class _Cached:
    engine: Engine
    tables: OrderedDict[tuple[str | None, str], tuple[float, Table]] = field(
        default_factory=OrderedDict
    )

    def forget(self, target: Target) -> None:
        with _lock:
            self.tables.pop((target.schema, target.table), None)


_lock = threading.Lock()
_engines: OrderedDict[str, _Cached] = OrderedDict()


def _cached(url: URL) -> _Cached:
    key = url.render_as_string(hide_password=False)
    with _lock:
        entry = _engines.get(key)
        if entry is not None:
            _engines.move_to_end(key)
            return entry
        entry = _engines[key] = _Cached(_create_engine(url))
        evicted = _engines.popitem(last=False)[1] if len(_engines) > MAX_ENGINES else None
    if evicted is not None:
        evicted.engine.dispose()  # checked-out connections finish their work, then close
    return entry


def _create_engine(url: URL) -> Engine:
    connect_args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT}
    if url.get_backend_name() != "postgresql":
        connect_args |= {
            "read_timeout": MYSQL_IO_TIMEOUT,
            "write_timeout": MYSQL_IO_TIMEOUT,
            # TIMESTAMP columns read values in the session's zone; ours are UTC.
            "init_command": "SET time_zone = '+00:00'",
        }
    return create_engine(
        url,
        pool_size=POOL_SIZE,
        max_overflow=POOL_SIZE,
        pool_timeout=POOL_TIMEOUT,
        pool_pre_ping=True,
        connect_args=connect_args,
    )


def _reflect(
    cached: _Cached, conn: Connection, target: Target, refresh: bool = False
) -> _Reflected:
    key = (target.schema, target.table)
    now = time.monotonic()
    with _lock:
        hit = cached.tables.get(key)
    if hit is not None and hit[0] > now and not refresh:
        return _Reflected(hit[1], fresh=False)
    table = Table(target.table, MetaData(), schema=target.schema, autoload_with=conn)
    for column in table.columns:
        if isinstance(column.type, sqltypes.JSON):
            column.type.none_as_null = True  # None is SQL NULL, as in every other column
    with _lock:
        cached.tables[key] = (now + REFLECTION_TTL, table)
        cached.tables.move_to_end(key)
        while len(cached.tables) > MAX_TABLES_PER_ENGINE:
            cached.tables.popitem(last=False)
    return _Reflected(table, fresh=True)


# --- rows into statements ------------------------------------------------------------------


def _prepare(
    found: _Reflected, target: Target, rows: list[InputRow], keys: list[str], *, merge: bool
) -> list[InputRow]:
    table = found.table
    if keys:
        _check_keys(table, target, keys)
    ready: list[InputRow] = []
    for row in rows:
        values: dict[str, Any] = {}
        for name, value in row.values.items():
            if name not in table.c:
                raise FatalError(
                    f"inputs.rows[{row.index}]: column {name!r} is not in table "
                    f"{target.name}{_hint(table, name)}",
                    field="rows",
                )
            values[name] = _value(table.c[name].type, value, f"rows[{row.index}].{name}")
        ready.append(InputRow(row.index, values))
    return _by_key(ready, keys, merge=merge) if keys else ready


def _hint(table: Table, name: str) -> str:
    near = [c.name for c in table.columns if c.name.lower() == name.lower()]
    return f" (did you mean {near[0]!r}?)" if near else ""


def unique_keys(table: Table) -> list[frozenset[str]]:
    """Column sets an upsert can name: the primary key and full (not partial) unique indexes."""
    found = [frozenset(c.name for c in table.primary_key.columns)]
    found += [
        frozenset(c.name for c in cons.columns)
        for cons in table.constraints
        if isinstance(cons, UniqueConstraint)
    ]
    found += [
        frozenset(c.name for c in index.columns)
        for index in table.indexes
        if index.unique
        and len(index.expressions) == len(index.columns)
        and not index.dialect_kwargs.get("postgresql_where")
    ]
    return [keys for keys in found if keys]


def _check_keys(table: Table, target: Target, keys: list[str]) -> None:
    missing = [k for k in keys if k not in table.c]
    if missing:
        raise FatalError(
            f"inputs.keyColumns: column {missing[0]!r} is not in table {target.name}",
            field="keyColumns",
        )
    candidates = unique_keys(table)
    if frozenset(keys) not in candidates:
        known = "; ".join(sorted(", ".join(sorted(k)) for k in candidates)) or "none"
        raise FatalError(
            f"inputs.keyColumns: {keys} is not the primary key or a unique index of "
            f"{target.name}, so an upsert cannot find existing rows by it (its unique keys: "
            f"{known})",
            field="keyColumns",
        )


def _value(type_: Any, value: Any, where: str) -> Any:
    """A JSON value in the form the column's driver takes."""
    if isinstance(value, dict | list):
        if isinstance(type_, sqltypes.JSON) or (
            isinstance(value, list) and isinstance(type_, sqltypes.ARRAY)
        ):
            return value
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    if isinstance(value, str):
        return _temporal(type_, value)
    if isinstance(value, datetime):
        return _fit(type_, value)
    if value is None or isinstance(value, bool | int | float | Decimal | date | bytes | UUID):
        return value
    raise FatalError(f"inputs.{where}: a {type(value).__name__} cannot be written", field="rows")


def _temporal(type_: Any, text: str) -> Any:
    """ISO 8601 text for a date or timestamp column as a Python value.

    MariaDB refuses ``...T12:00:00Z`` and PostgreSQL drops the offset of a value for a column
    without time zone; parsed here, an offset always counts. Other text goes as it is.
    """
    try:
        if isinstance(type_, sqltypes.DateTime):
            return _fit(type_, datetime.fromisoformat(text))
        if isinstance(type_, sqltypes.Date):
            try:
                return date.fromisoformat(text)
            except ValueError:
                return datetime.fromisoformat(text).date()
    except ValueError:
        pass
    return text


def _fit(type_: Any, value: datetime) -> datetime:
    """Aware values in UTC for columns without a zone; naive ones taken as UTC for others."""
    if getattr(type_, "timezone", False):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(type_, sqltypes.DateTime) and value.tzinfo:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _by_key(rows: list[InputRow], keys: list[str], *, merge: bool) -> list[InputRow]:
    """One row per key, in key order: merged (later values win, as if applied in turn) for
    an upsert, the first one for an insert (the later ones would be skipped).

    Merged, a statement never meets one key twice, which PostgreSQL refuses inside a single
    multi-row ``ON CONFLICT``; sorted, concurrent upserts of the same keys lock rows in the
    same order instead of deadlocking.
    """
    merged: dict[str, InputRow] = {}
    for row in rows:
        absent = [k for k in keys if row.values.get(k) is None]
        if absent:
            raise FatalError(
                f"inputs.rows[{row.index}]: a value for key column {absent[0]!r} is needed",
                field="rows",
            )
        ident = json.dumps([row.values[k] for k in keys], default=str)
        before = merged.get(ident)
        if before is not None and not merge:
            continue
        merged[ident] = InputRow(
            row.index, {**before.values, **row.values} if before else row.values
        )
    return [merged[ident] for ident in sorted(merged)]


def _runs(rows: list[InputRow]) -> Iterator[list[InputRow]]:
    """Consecutive rows with the same columns: one executemany each, input order kept."""
    run: list[InputRow] = []
    for row in rows:
        if run and row.values.keys() != run[0].values.keys():
            yield run
            run = []
        run.append(row)
    if run:
        yield run


def _statement(
    table: Table, backend: str, keys: list[str], run: list[InputRow], mode: Mode
) -> Insert:
    if not keys:
        return insert(table)
    updates = [c for c in run[0].values if c not in keys] if mode == "upsert" else []
    if backend == "postgresql":
        pg = postgresql.insert(table)
        conflict = [table.c[k] for k in keys]
        if not updates:
            return pg.on_conflict_do_nothing(index_elements=conflict)
        return pg.on_conflict_do_update(
            index_elements=conflict, set_={c: pg.excluded[c] for c in updates}
        )
    my = mysql.insert(table)
    if mode == "insert":  # skip: set a key column to what the existing row holds
        return my.on_duplicate_key_update({keys[0]: table.c[keys[0]]})
    return my.on_duplicate_key_update({c: my.inserted[c] for c in updates or keys[:1]})
