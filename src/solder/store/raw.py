"""Plain SQL on the driver's own cursor, for the statements every event and run goes through.

SQLAlchemy's statement handling (cache keys, parameter processing, result wrapping) cost more
than running these statements did: about half of the server's CPU per event in the profiles
of ``docs/benchmarks.md``. The handful of statements on the hot path (accepting an event,
claiming, loading, recording a block, finishing; in ``runs.py``) are written as plain SQL that
SQLite and PostgreSQL both accept and run here on the DB-API connection underneath a
SQLAlchemy ``Connection``, so they share its transaction (and, on SQLite, the write lock its
``begin`` took). Everything else stays on SQLAlchemy.

Values are stored exactly as the SQLAlchemy column types of ``tables.py`` store them, so either
path reads what the other wrote: on SQLite, datetimes as ``YYYY-MM-DD HH:MM:SS.ffffff`` text
in UTC, JSON as text and booleans as integers; on PostgreSQL, naive UTC ``timestamp`` values
and ``json`` values through psycopg's adapter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

_PARAM = re.compile(r"(?<!:):([a-z_]+)")


class Statement:
    """One SQL text written with ``:name`` parameters, rendered once for each driver style."""

    __slots__ = ("postgres", "sqlite")

    def __init__(self, sql: str) -> None:
        self.sqlite = " ".join(sql.split())
        self.postgres = _PARAM.sub(r"%(\1)s", self.sqlite)


class Raw:
    """The DB-API connection under a SQLAlchemy connection, with the store's encodings."""

    __slots__ = ("dbapi", "sqlite")

    def __init__(self, conn: Connection) -> None:
        self.sqlite = conn.dialect.name == "sqlite"
        fairy = conn.connection
        self.dbapi: Any = fairy.driver_connection

    def execute(self, statement: Statement, params: dict[str, Any] | None = None) -> Any:
        cur = self.dbapi.cursor()
        cur.execute(statement.sqlite if self.sqlite else statement.postgres, params or {})
        return cur

    def executemany(self, statement: Statement, rows: Sequence[dict[str, Any]]) -> None:
        cur = self.dbapi.cursor()
        cur.executemany(statement.sqlite if self.sqlite else statement.postgres, rows)
        cur.close()

    def time(self, value: datetime | None) -> Any:
        if value is None:
            return None
        naive = value.astimezone(UTC).replace(tzinfo=None)
        return naive.isoformat(" ", "microseconds") if self.sqlite else naive

    def json(self, value: Any) -> Any:
        """A JSON column's parameter; ``None`` is SQL NULL (read back as ``None`` either way)."""
        if value is None:
            return None
        if self.sqlite:
            return json.dumps(value)
        from psycopg.types.json import Json

        return Json(value)

    @staticmethod
    def from_json(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str | bytes) else value
