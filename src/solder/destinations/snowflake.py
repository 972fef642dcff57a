"""Snowflake: insert or merge rows into a table, one statement per batch, one transaction per call.

The block writes as the installing end user when it says ``credential: installation``: their
``snowflake`` app credential (account, user, password or PEM private key, warehouse, ...;
``from_credential``), connected in the install modal. Otherwise the connection is a named
server connection (``destination_connections``)::

    snowflake://USER:PASSWORD@ACCOUNT/DATABASE/SCHEMA?warehouse=WH&role=ROLE
    snowflake://USER@ACCOUNT/DATABASE/SCHEMA?private_key_file=/etc/solder/sf.p8
        &private_key_file_pwd=PASSPHRASE&warehouse=WH

A password in the URL means password auth; ``private_key_file`` (a PKCS#8 PEM file, encrypted
or not) means key-pair auth. ``host``, ``port`` and ``protocol`` override where the connector
connects (a private link, or the local emulator the tests use).

Each batch is one statement whose rows are bound parameters (``?``), never SQL text:
``INSERT INTO t (..) SELECT .. FROM VALUES (?, ..), ..`` or ``MERGE INTO t USING (SELECT ..
FROM VALUES ..) s ON <keys> WHEN MATCHED THEN UPDATE .. WHEN NOT MATCHED THEN INSERT ..``.
Objects and arrays are sent as JSON text through ``PARSE_JSON``, so a VARIANT column gets
the structure. All batches of one call run in one transaction: a call writes all or nothing.
Connections are reused (``MAX_IDLE`` per URL, for ``MAX_AGE`` seconds); one that failed is
closed.

Merge is what makes a repeat harmless: Snowflake enforces no unique key, so a repeated insert
adds the rows again, while a repeated merge by ``keyColumns`` finds them and updates them.

Errors (the connector's, mapped in ``_translate``)::

    network, timeouts, Snowflake unavailable              -> RetryableError
    credentials refused, bad key file, bad URL             -> FatalError (field connection)
    the installation's credential refused or unusable      -> ReconnectNeeded (field credential)
    unknown table or column, refused value, other SQL      -> FatalError (field table / rows)

Messages are the server's, with the connection's secrets scrubbed out.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from solder.destinations.base import Destination, DestinationCall
from solder.errors import FatalError, ReconnectNeeded, RetryableError, StepError

log = logging.getLogger(__name__)

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")
ACCOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
MAX_BINDS = 16_384
"""Most bound values in one statement (Snowflake's limit on a list's expressions)."""
DEFAULT_BATCH = 500
MAX_IDLE = 4
MAX_AGE = 30 * 60
"""Seconds an idle connection is reused; older ones are closed (sessions expire)."""
LOGIN_TIMEOUT = 15
NETWORK_TIMEOUT = 60
QUERY_KEYS = frozenset(
    {"warehouse", "role", "private_key_file", "private_key_file_pwd", "host", "port", "protocol"}
)
CREDENTIAL_ERRNOS = frozenset({390100, 390101, 390102, 390144, 394304, 251005, 251006})

NAME = {"type": "string", "pattern": IDENTIFIER.pattern}
INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "table": {**NAME, "description": "the table (unquoted: Snowflake resolves it upper-case)"},
        "schema": {**NAME, "description": "the schema; default: the connection's"},
        "rows": {
            "description": "the rows to write; a single object is one row",
            "oneOf": [{"type": "array", "items": {"type": "object"}}, {"type": "object"}],
        },
        "mode": {"enum": ["insert", "merge"], "default": "insert"},
        "keyColumns": {
            "type": "array",
            "items": NAME,
            "minItems": 1,
            "uniqueItems": True,
            "description": "the columns that identify a row; required for merge",
        },
        "batchSize": {"type": "integer", "minimum": 1, "maximum": 5000, "default": DEFAULT_BATCH},
    },
    "required": ["table", "rows"],
    "additionalProperties": False,
    "if": {"properties": {"mode": {"const": "merge"}}, "required": ["mode"]},
    "then": {"required": ["keyColumns"]},
}
OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "table": {"type": "string"},
        "mode": {"enum": ["insert", "merge"]},
        "rows": {"type": "integer", "description": "input rows written"},
        "inserted": {"type": "integer"},
        "updated": {"type": "integer"},
        "statements": {"type": "integer"},
    },
}


# --- the connection URL --------------------------------------------------------------------


@dataclass(frozen=True)
class Connection:
    """Where and as whom to connect: a parsed ``snowflake://`` URL, or the installation's
    credential (``from_credential``); ``params`` are the connector's keyword arguments."""

    name: str
    account: str
    params: dict[str, Any] = field(repr=False)
    secrets: tuple[str, ...] = field(repr=False)
    names: str = "connection"
    """The input an error about the connection names: ``connection`` or ``credential``."""
    pool: str = field(default="", repr=False)
    """What idle connections are kept under (the URL, or a digest of the credential)."""

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    @property
    def what(self) -> str:
        """How errors name it: ``'warehouse'`` or ``the installation's snowflake credential``."""
        return repr(self.name) if self.names == "connection" else self.name


def _bad_url(name: str, why: str) -> FatalError:
    return FatalError(f"inputs.connection: {name!r} {why}", field="connection")


def parse_url(url: str, name: str) -> Connection:
    """Read the URL; every problem names the connection, never its secrets."""
    try:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        port_text = query.get("port")
        port = int(port_text) if port_text is not None else None
    except ValueError:
        raise _bad_url(name, "is not a valid snowflake:// URL") from None
    account = parts.hostname or ""
    if not ACCOUNT.match(account):
        raise _bad_url(name, "needs an account identifier: snowflake://user@account/db/schema")
    user = unquote(parts.username or "")
    if not user:
        raise _bad_url(name, "needs a user: snowflake://user@account/db/schema")
    unknown = sorted(set(query) - QUERY_KEYS)
    if unknown:
        raise _bad_url(
            name, f"has unknown parameter {unknown[0]!r} ({', '.join(sorted(QUERY_KEYS))})"
        )
    path = [unquote(p) for p in parts.path.split("/") if p]
    if len(path) > 2 or not all(IDENTIFIER.match(p) for p in path):
        raise _bad_url(name, "has a path that is not /database or /database/schema")
    params: dict[str, Any] = {"user": user, "account": account, "paramstyle": "qmark"}
    params |= {"login_timeout": LOGIN_TIMEOUT, "network_timeout": NETWORK_TIMEOUT}
    params["session_parameters"] = {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False}
    if path:
        params["database"] = path[0]
    if len(path) > 1:
        params["schema"] = path[1]
    for key in ("warehouse", "role", "host", "protocol"):
        if query.get(key):
            params[key] = query[key]
    if port is not None:
        params["port"] = port
    password = unquote(parts.password or "")
    secrets = {password, parts.password or "", query.get("private_key_file_pwd", "")}
    if query.get("private_key_file"):
        params["private_key"] = _private_key(name, query)
    elif password:
        params["password"] = password
    else:
        raise _bad_url(name, "needs a password or private_key_file")
    shown = tuple(sorted(secrets - {""}, key=len, reverse=True))
    return Connection(name=name, account=account, params=params, secrets=shown, pool=url)


def _private_key(name: str, query: Mapping[str, str]) -> bytes:
    """The key file's key as DER (PKCS#8), the form the connector's key-pair auth takes."""
    try:
        pem = Path(query["private_key_file"]).read_bytes()
    except OSError as exc:
        raise _bad_url(
            name, f"names a private_key_file that cannot be read ({exc.strerror})"
        ) from None
    der = der_key(pem, query.get("private_key_file_pwd"))
    if der is None:
        raise _bad_url(
            name, "has a private_key_file that is not a PEM private key, or a wrong passphrase"
        )
    return der


def der_key(pem: bytes, passphrase: str | None) -> bytes | None:
    """A PEM private key (PKCS#8, encrypted or not) as unencrypted DER PKCS#8; None when it
    is not a private key or the passphrase does not open it."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(
            pem, password=passphrase.encode() if passphrase else None
        )
    except (ValueError, TypeError):
        return None
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


# --- the installation's own credential ----------------------------------------------------

CREDENTIAL_NAME = "the installation's snowflake credential"
DEFAULT_HOST = "snowflakecomputing.com"
"""The app's default base URL names this host: the connector then finds the account's own
host (``<account>.snowflakecomputing.com``). Any other base URL the server sets for the app
(``app_base_urls``: a private link, the tests' emulator) is where it connects."""
PEM = re.compile(r"-----BEGIN ([A-Z ]+)-----(.*?)-----END \1-----", re.S)


class CredentialProblem(ReconnectNeeded):
    """The stored credential cannot be used as it is; ``part`` is the credential's field."""

    def __init__(self, part: str, why: str) -> None:
        super().__init__(f"inputs.credential: {CREDENTIAL_NAME}: {part} {why}", field="credential")
        self.part = part
        self.why = why


def pem_text(text: str) -> bytes:
    """A pasted PEM key with its line breaks restored (a one-line form field drops them)."""
    found = PEM.search(text.strip())
    if found is None:
        return text.strip().encode()
    label, body = found.group(1), "".join(found.group(2).split())
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""]).encode()


def _text(credential: Mapping[str, Any], part: str) -> str:
    value = credential.get(part)
    return value.strip() if isinstance(value, str) else ""


def from_credential(credential: Mapping[str, Any], endpoint: str | None = None) -> Connection:
    """The connector's arguments from an app credential (the ``snowflake`` app's fields);
    ``endpoint``: the server's base URL for the app. Problems raise ``CredentialProblem``."""
    import hashlib

    account, user = _text(credential, "account"), _text(credential, "user")
    if not ACCOUNT.match(account):
        raise CredentialProblem("account", "is not an account identifier (orgname-account)")
    if not user:
        raise CredentialProblem("user", "is required")
    params: dict[str, Any] = {"user": user, "account": account, "paramstyle": "qmark"}
    params |= {"login_timeout": LOGIN_TIMEOUT, "network_timeout": NETWORK_TIMEOUT}
    params["session_parameters"] = {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False}
    for part in ("database", "schema"):
        value = _text(credential, part)
        if value and not IDENTIFIER.match(value):
            raise CredentialProblem(part, "is not a plain Snowflake identifier")
        if value:
            params[part] = value
    for part in ("warehouse", "role"):
        if _text(credential, part):
            params[part] = _text(credential, part)
    password, key = _text(credential, "password"), _text(credential, "privateKey")
    passphrase = _text(credential, "privateKeyPassphrase")
    if key:
        der = der_key(pem_text(key), passphrase or None)
        if der is None:
            raise CredentialProblem(
                "privateKey",
                "is not a PEM private key (PKCS#8), or privateKeyPassphrase does not open it",
            )
        params["private_key"] = der
    elif password:
        params["password"] = password
    else:
        raise CredentialProblem("password", "or privateKey is required")
    parts = urlsplit(endpoint or "")
    if parts.hostname and parts.hostname != DEFAULT_HOST:
        params["host"] = parts.hostname
        params["protocol"] = parts.scheme or "https"
        params["port"] = parts.port or (443 if params["protocol"] == "https" else 80)
    secrets = {password, key, passphrase} - {""}
    digest = hashlib.sha256(repr(sorted(params.items())).encode()).hexdigest()
    return Connection(
        name=CREDENTIAL_NAME, account=account, params=params, names="credential",
        secrets=tuple(sorted(secrets, key=len, reverse=True)), pool=f"credential:{digest}",
    )  # fmt: skip


def check_login(credential: Mapping[str, Any], endpoint: str | None) -> None:
    """Log in with the credential and out again: ``ReconnectNeeded`` (a ``CredentialProblem``
    for one that cannot be used as it is) when Snowflake refuses it, ``RetryableError`` when
    it cannot be reached."""
    target = from_credential(credential, endpoint)
    import snowflake.connector
    from snowflake.connector import errors as sf

    failure: StepError | None = None
    try:
        snowflake.connector.connect(**target.params).close()
    except (sf.Error, OSError) as exc:
        failure = _translate(exc, target, "")
    if failure is not None:
        raise failure  # outside the except block: no reference to the connector's error


# --- connections, reused ------------------------------------------------------------------


_lock = threading.Lock()
_idle: dict[str, list[tuple[float, Any]]] = {}


@dataclass
class _Lease:
    url: str
    conn: Any
    since: float = field(default_factory=time.monotonic)
    ok: bool = False


def _take(target: Connection) -> _Lease:
    """An idle connection younger than ``MAX_AGE`` seconds, or a new one."""
    url = target.pool
    stale: list[Any] = []
    found: _Lease | None = None
    with _lock:
        idle = _idle.get(url, [])
        while idle and found is None:
            since, conn = idle.pop()
            if time.monotonic() - since < MAX_AGE:
                found = _Lease(url, conn, since)
            else:
                stale.append(conn)
    for conn in stale:
        _close(conn)
    if found is not None:
        return found
    import snowflake.connector

    return _Lease(url, snowflake.connector.connect(**target.params))


def _give_back(lease: _Lease) -> None:
    if lease.ok:
        with _lock:
            idle = _idle.setdefault(lease.url, [])
            if len(idle) < MAX_IDLE:
                idle.append((lease.since, lease.conn))
                return
    _close(lease.conn)


def _close(conn: Any) -> None:
    from snowflake.connector import errors as sf

    try:
        conn.close()
    except (sf.Error, OSError):  # a broken connection is dropped whatever it says
        log.debug("snowflake: closing a connection failed", exc_info=True)


def close_all() -> None:
    """Close every idle connection (shutdown, tests)."""
    with _lock:
        conns = [c for idle in _idle.values() for _, c in idle]
        _idle.clear()
    for conn in conns:
        _close(conn)


# --- rows into statements -----------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    sql: str
    params: list[Any]
    rows: int


def _name(value: object, field_name: str, what: str) -> str:
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        raise FatalError(
            f"inputs.{field_name}: {what} {value!r} is not a plain Snowflake identifier "
            "(letters, digits, _ and $, not starting with a digit)",
            field=field_name,
        )
    return value.upper()


def _rows(value: object) -> list[dict[str, Any]]:
    rows = [value] if isinstance(value, Mapping) else value
    if not isinstance(rows, list):
        raise FatalError("inputs.rows: must be an object or a list of objects", field="rows")
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping) or not row:
            raise FatalError(f"inputs.rows[{i}]: must be an object with columns", field="rows")
        out.append({_name(k, "rows", f"rows[{i}] column"): v for k, v in row.items()})
    return out


def _by_key(rows: list[dict[str, Any]], keys: list[str]) -> list[dict[str, Any]]:
    """One row per key, later values winning: a MERGE must not meet one key twice."""
    merged: dict[str, dict[str, Any]] = {}
    for i, row in enumerate(rows):
        absent = [k for k in keys if row.get(k) is None]
        if absent:
            raise FatalError(
                f"inputs.rows[{i}]: merge needs a value for key column {absent[0]!r}",
                field="rows",
            )
        ident = json.dumps([row[k] for k in keys], default=str)
        merged[ident] = {**merged.get(ident, {}), **row}
    return list(merged.values())


def _runs(rows: list[dict[str, Any]], batch: int) -> Iterator[list[dict[str, Any]]]:
    """Consecutive rows with the same columns, cut to ``batch`` rows and ``MAX_BINDS`` values."""
    run: list[dict[str, Any]] = []
    for row in rows:
        limit = max(1, min(batch, MAX_BINDS // len(row)))
        if run and (row.keys() != run[0].keys() or len(run) >= limit):
            yield run
            run = []
        run.append(row)
    if run:
        yield run


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), default=str)


def _bound(value: Any, where: str) -> Any:
    if value is None or isinstance(value, str | bool | int | float | Decimal):
        return value
    raise FatalError(f"inputs.{where}: a {type(value).__name__} cannot be written", field="rows")


def statement(table: str, mode: str, keys: list[str], run: list[dict[str, Any]]) -> Statement:
    """One batch as one statement with bound parameters."""
    columns = list(run[0])
    structured = {c for c in columns if any(isinstance(r[c], dict | list) for r in run)}
    floats = {c for c in columns if any(isinstance(r[c], float) for r in run)}
    params: list[Any] = []
    for i, row in enumerate(run):
        for c in columns:
            value = row[c]
            if c in structured:
                params.append(_json(value))
            elif c in floats and isinstance(value, int) and not isinstance(value, bool):
                params.append(float(value))  # one type per VALUES column: 1 and 1.5 mix
            else:
                params.append(_bound(value, f"rows[{i}].{c}"))
    marks = "(" + ", ".join("?" * len(columns)) + ")"
    source = ", ".join(
        f"PARSE_JSON(column{n}) AS {c}" if c in structured else f"column{n} AS {c}"
        for n, c in enumerate(columns, 1)
    )
    # names are checked identifiers and every value is a bound parameter
    values = f"SELECT {source} FROM VALUES {', '.join([marks] * len(run))}"  # noqa: S608
    names = ", ".join(columns)
    if mode == "insert":
        return Statement(f"INSERT INTO {table} ({names}) {values}", params, len(run))
    on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    updates = [c for c in columns if c not in keys]
    matched = (
        f" WHEN MATCHED THEN UPDATE SET {', '.join(f't.{c} = s.{c}' for c in updates)}"
        if updates
        else ""
    )
    inserted = ", ".join(f"s.{c}" for c in columns)
    sql = (
        f"MERGE INTO {table} t USING ({values}) s ON {on}{matched}"  # noqa: S608 - bound values
        f" WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({inserted})"
    )
    return Statement(sql, params, len(run))


def plan(inputs: Mapping[str, Any]) -> tuple[str, str, list[Statement]]:
    """The target's name, the mode and the statements, all checked before connecting."""
    mode = inputs.get("mode", "insert")
    if mode not in ("insert", "merge"):
        raise FatalError(f"inputs.mode: {mode!r} is not insert or merge", field="mode")
    table = _name(inputs.get("table"), "table", "table")
    if inputs.get("schema") is not None:
        table = f"{_name(inputs['schema'], 'schema', 'schema')}.{table}"
    keys: list[str] = []
    if mode == "merge":
        raw = inputs.get("keyColumns")
        if not isinstance(raw, list) or not raw:
            raise FatalError("inputs.keyColumns: merge needs the key columns", field="keyColumns")
        keys = [_name(k, "keyColumns", "key column") for k in raw]
    rows = _rows(inputs.get("rows"))
    if keys:
        rows = _by_key(rows, keys)
    batch = int(inputs.get("batchSize") or DEFAULT_BATCH)
    return table, mode, [statement(table, mode, keys, run) for run in _runs(rows, batch)]


# --- sending ------------------------------------------------------------------------------


def send(call: DestinationCall) -> dict[str, Any]:
    table, mode, statements = plan(call.inputs)
    counted = {"rows": 0, "inserted": 0, "updated": 0}
    result: dict[str, Any] = {"table": table, "mode": mode, **counted,
                              "statements": len(statements)}  # fmt: skip
    if not statements:
        return result
    if call.credential is not None:
        target = from_credential(call.credential, call.endpoint)
    else:
        target = parse_url(call.connection, call.connection_name)
    from snowflake.connector import errors as sf

    failure: StepError | None = None
    lease: _Lease | None = None
    try:
        lease = _take(target)
        lease.conn.autocommit(False)
        cur = lease.conn.cursor()
        try:
            for stmt in statements:
                cur.execute(stmt.sql, stmt.params)
                counts: tuple[Any, ...] = tuple(cur.fetchone() or ())
                counted["rows"] += stmt.rows
                counted["inserted"] += int(counts[0]) if counts else 0
                if mode == "merge" and len(counts) > 1:
                    counted["updated"] += int(counts[1])
            lease.conn.commit()
        finally:
            cur.close()
        lease.ok = True
    except (sf.Error, OSError) as exc:
        failure = _translate(exc, target, table)
    finally:
        if lease is not None:
            if not lease.ok:
                _rollback(lease.conn)
            _give_back(lease)
    if failure is not None:
        log.info("snowflake %s into %s failed: %s", mode, table, failure.message)
        raise failure  # outside the except block: no reference to the connector's error
    log.debug("snowflake %s: %d rows into %s", mode, counted["rows"], table)
    return result | counted


def _rollback(conn: Any) -> None:
    from snowflake.connector import errors as sf

    try:
        conn.rollback()
    except (sf.Error, OSError):  # the connection is dropped next anyway
        log.debug("snowflake: rollback failed", exc_info=True)


def _translate(exc: Exception, target: Connection, table: str) -> StepError:
    """The one place a connector error becomes a step error (see the module docstring)."""
    from snowflake.connector import errors as sf

    errno = getattr(exc, "errno", None) or 0
    text = target.scrub(str(getattr(exc, "msg", None) or exc)).strip()
    where = f"Snowflake ({target.account})"
    if errno in CREDENTIAL_ERRNOS:
        refused = f"inputs.{target.names}: {where} refused the credentials of {target.what}: {text}"
        if target.names == "credential":  # the end user's to fix: connect again
            return ReconnectNeeded(refused, field="credential")
        return FatalError(refused, field="connection")
    if isinstance(exc, sf.ProgrammingError):
        if errno == 2003:
            return FatalError(f"inputs.table: {table} does not exist or is not authorized: "
                              f"{text}", field="table")  # fmt: skip
        return FatalError(f"inputs.rows: {where} refused the write: {text}", field="rows")
    if isinstance(exc, sf.DataError | sf.IntegrityError | sf.NotSupportedError):
        return FatalError(f"inputs.rows: {where} refused a value: {text}", field="rows")
    return RetryableError(
        f"inputs.{target.names}: {target.what}: {where} is not reachable or failed: {text}",
        field=target.names,
    )


SNOWFLAKE = Destination(
    key="snowflake",
    title="Snowflake",
    description="insert or merge rows into a Snowflake table, one statement per batch, "
    "one transaction per call; merge by keyColumns makes a repeat harmless, insert does not",
    input=INPUT,
    output=OUTPUT,
    schemes=("snowflake",),
    idempotent=False,
    send=send,
    app="snowflake",
)
