"""Driver errors of the SQL destination block (``engine/sql.py``) into Solder's errors.

PostgreSQL's errors carry a SQLSTATE and MySQL/MariaDB's an error number; each is sorted into
retry, refused credentials, missing table or database, a refused row, or anything else, and a
refused row is located (its index in the input and its column) from what the driver says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError, NoSuchTableError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from solder.errors import FatalError, ReconnectNeeded, RetryableError, StepError

if TYPE_CHECKING:
    from solder.engine.sql import InputRow, Target


@dataclass(frozen=True)
class Running:
    """The statement being run, to tell which row and column a refused value was in."""

    table: Table
    rows: list[InputRow]

    @property
    def params(self) -> list[dict[str, Any]]:
        return [row.values for row in self.rows]

    @property
    def columns(self) -> list[str]:
        """Columns in VALUES order (table order): PostgreSQL's ``$n`` numbering, row after row."""
        given = self.rows[0].values.keys()
        return [c.name for c in self.table.columns if c.name in given]


# PostgreSQL: SQLSTATE codes and classes.
_PG_RETRY = {"40001", "40P01", "55P03", "57014", "57P01", "57P02", "57P03"}
_PG_RETRY_CLASSES = ("08", "53")  # connection exception, insufficient resources
_PG_AUTH = {"28000", "28P01"}
_PG_ROW = {"42703", "42804"}  # undefined column, datatype mismatch
_PG_ROW_CLASSES = ("22", "23")  # data exception, integrity constraint violation
# libpq reports a refusal while connecting without a SQLSTATE, so these go by the message.
_PG_AUTH_TEXT = re.compile(
    r"password authentication failed|authentication failed|role \".*\" does not exist"
    r"|no pg_hba\.conf entry|no password supplied",
    re.I,
)
_PG_NO_DATABASE = re.compile(r"database \".*\" does not exist")
_PG_PARAM = re.compile(r"parameter \$(\d+)")
# MySQL/MariaDB: error numbers.
_MY_RETRY = {1040, 1053, 1158, 1159, 1160, 1161, 1205, 1213, 1927, 1969, 2002, 2003, 2005}
_MY_RETRY |= {2006, 2013, 2055, 3024, 4031}
_MY_AUTH = {1044, 1045, 1698, 1820, 1862}
_MY_ROW = {1048, 1054, 1062, 1264, 1265, 1292, 1364, 1366, 1406, 1452, 3819, 4025}
_MY_COLUMN = re.compile(r"(?:column|field) (?:`[^`]*`\.)*[`']([^`']+)[`']", re.I)
_TOO_LONG = {"22001", "1406"}
_QUOTED_VALUE = re.compile(r"""(?:: "(.*)"$|value: '(.*)' for column)""", re.M)


def translate(exc: SQLAlchemyError, target: Target, running: Running | None = None) -> StepError:
    """The Solder error for a SQLAlchemy or driver error met while writing to ``target``."""
    if isinstance(exc, NoSuchTableError):
        where = f"schema {target.schema!r} of " if target.schema else ""
        return FatalError(
            f"inputs.table: table {target.table!r} does not exist in {where}{target.url}",
            field="table",
        )
    if isinstance(exc, PoolTimeout):
        return RetryableError(f"{target.url}: every pooled connection is busy")
    if not isinstance(exc, DBAPIError):
        cause = getattr(exc, "orig", None) or exc
        return FatalError(target.scrub(f"{target.name}: {type(cause).__name__}: {cause}"))
    kind, code, detail = _classify(exc, target.backend)
    detail = target.scrub(detail)
    if kind == "retry":
        return RetryableError(f"{target.url}: {detail}")
    if kind == "auth":
        return ReconnectNeeded(
            f"{target.url} refused the credentials: {detail}", field="connectionUrl"
        )
    if kind == "table":
        return FatalError(f"inputs.table: {detail} ({target.url})", field="table")
    if kind == "database":
        field = "schema" if target.schema else "connectionUrl"
        return FatalError(f"inputs.{field}: {detail} ({target.url})", field=field)
    if kind == "row":
        return FatalError(_locate(code, exc.orig, detail, running, target), field="rows")
    return FatalError(f"{target.name}: {detail}")


Kind = Literal["retry", "auth", "table", "database", "row", "other"]


def _classify(exc: DBAPIError, backend: str) -> tuple[Kind, str, str]:
    """What kind of failure a driver error is, its code (SQLSTATE or number) and message."""
    orig = exc.orig
    if backend == "postgresql":
        state = getattr(orig, "sqlstate", None)
        text = str(orig).strip()
        first = text.splitlines()[0] if text else type(orig).__name__
        extra = getattr(getattr(orig, "diag", None), "message_detail", None)
        detail = f"{first} ({extra})" if extra else first
        if not isinstance(state, str):
            # No SQLSTATE: libpq did not get connected (refused, timed out, unknown host)
            # unless the server said no, which only the message tells.
            if _PG_AUTH_TEXT.search(text):
                return "auth", "", detail
            if _PG_NO_DATABASE.search(text):
                return "database", "", detail
            return "retry", "", detail
        if exc.connection_invalidated or state in _PG_RETRY:
            return "retry", state, detail
        if state.startswith(_PG_RETRY_CLASSES):
            return "retry", state, detail
        if state in _PG_AUTH:
            return "auth", state, detail
        if state == "42P01":
            return "table", state, detail
        if state in ("3D000", "3F000"):
            return "database", state, detail
        if state in _PG_ROW or state.startswith(_PG_ROW_CLASSES):
            return "row", state, detail
        return "other", state, detail
    args: tuple[Any, ...] = getattr(orig, "args", ())
    number = args[0] if args and isinstance(args[0], int) else 0
    detail = args[1] if len(args) >= 2 and isinstance(args[1], str) and args[1] else ""
    detail = detail or f"{type(orig).__name__}: {orig}"
    if exc.connection_invalidated or number in _MY_RETRY:
        return "retry", str(number), detail
    if number in _MY_AUTH:
        return "auth", str(number), detail
    if number == 1146:
        return "table", str(number), detail
    if number == 1049:
        return "database", str(number), detail
    if number in _MY_ROW:
        return "row", str(number), detail
    return "other", str(number), detail


def _locate(
    code: str, orig: BaseException | None, detail: str, running: Running | None, target: Target
) -> str:
    """The message for a refused row, naming its index and column when they can be told.

    The column comes from the error (PostgreSQL's diagnostics or ``$n`` parameter, MySQL's
    message); the row is the first whose value the message quotes, or, for a value too long,
    the first longer than its column allows.
    """
    column: str | None = getattr(getattr(orig, "diag", None), "column_name", None)
    at: int | None = None  # the row a PostgreSQL $n parameter was in
    if column is None and running is not None and (found := _PG_PARAM.search(str(orig))):
        # a multi-row VALUES numbers its parameters row after row
        n, width = int(found[1]), len(running.columns)
        if 0 < n <= width * len(running.rows):
            column = running.columns[(n - 1) % width]
            at = running.rows[(n - 1) // width].index
    if column is None and (found := _MY_COLUMN.search(detail)):
        column = found[1]
    row: int | None = None
    if running is not None:
        quoted = _QUOTED_VALUE.search(detail)
        value = next((g for g in quoted.groups() if g is not None), None) if quoted else None
        for candidate in running.rows:
            for name, given in candidate.values.items():
                if column not in (None, name):
                    continue
                if (value is not None and str(given) == value) or (
                    code in _TOO_LONG and _too_long(running.table, name, given)
                ):
                    row, column = candidate.index, name
                    break
            if row is not None:
                break
        if row is None and len(running.rows) == 1:
            row = running.rows[0].index
        if row is None:
            row = at
    where = "inputs.rows" + (f"[{row}]" if row is not None else "")
    where += f".{column}" if column else ""
    return f"{where}: {detail} (table {target.name})"


def _too_long(table: Table, name: str, value: Any) -> bool:
    length = getattr(table.c[name].type, "length", None) if name in table.c else None
    return isinstance(value, str) and isinstance(length, int) and len(value) > length
