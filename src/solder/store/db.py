"""Engine factory for the two supported stores: a SQLite file (default) and PostgreSQL.

SQLite is opened the way that keeps concurrent writers correct: the driver's own transaction
handling is switched off and every write transaction starts with ``BEGIN IMMEDIATE``, so two
writers never both read then write (pysqlite's default silently lost updates under
concurrency). WAL, ``synchronous=FULL``, a busy timeout and foreign keys are set on each
connection.

Two refinements keep that fast inside one process:

* reads go through :func:`reader`, whose transactions start with a deferred ``BEGIN``: in WAL
  mode they see a consistent snapshot without taking the write lock;
* writers of one process queue on a Python lock before ``BEGIN IMMEDIATE`` and release it
  right after ``COMMIT``/``ROLLBACK``, so they wait in line instead of in SQLite's busy handler,
  which sleeps in growing steps (the cause of multi-second tails under load). Other processes
  on the same file still meet the busy timeout.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

READ_ONLY = "solder_read_only"
WRITE_LOCK_TIMEOUT = 30.0
_HOLDS_LOCK = "solder_holds_write_lock"


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and point them at the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def reader(engine: Engine) -> Engine:
    """The same engine (same pool) for read-only work: no write lock taken on SQLite."""
    return engine.execution_options(**{READ_ONLY: True})


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        memory = make_url(url).database in (None, "", ":memory:")
        pool: dict[str, Any] = {} if memory else {"pool_size": pool_size, "max_overflow": pool_size}
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **pool
        )
        _tune_sqlite(engine)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _tune_sqlite(engine: Engine) -> None:
    write_lock = threading.Lock()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
            return
        if not write_lock.acquire(timeout=WRITE_LOCK_TIMEOUT):
            raise OperationalError("BEGIN IMMEDIATE", None, TimeoutError("write lock wait"))
        conn.info[_HOLDS_LOCK] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn)
            raise

    def _release(conn: Connection) -> None:
        if conn.info.pop(_HOLDS_LOCK, False):
            write_lock.release()

    def _end(statement: str) -> Any:
        def listener(conn: Connection) -> None:
            # End the transaction here, so the lock is released only after it really ended;
            # the driver's own commit()/rollback() that follows finds nothing left to do.
            try:
                dbapi_conn = conn.connection.dbapi_connection
                if dbapi_conn is not None and dbapi_conn.in_transaction:
                    dbapi_conn.execute(statement)
            finally:
                _release(conn)

        return listener

    event.listen(engine, "commit", _end("COMMIT"))
    event.listen(engine, "rollback", _end("ROLLBACK"))
