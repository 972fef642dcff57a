"""Re-encrypting the secrets at rest under the key ring's current (first) key.

Every table holding ciphertexts is named once in :data:`SEALED`, with its row identity and the
associated data its writer binds (the writer's own function, so there is one aad scheme). A
rotation walks each table in batches ordered by that identity, each batch its own transaction,
and takes only the rows whose ``key_id`` is not the current key's. For each row:

* it is rewritten with a guard, ``WHERE <identity> = :id AND key_id = :old AND ciphertext =
  :old``: a writer that changed the row since it was read (another rotation, an OAuth2 token
  refresh, a process still encrypting under the old key) is never overwritten. The row counts
  as ``changed`` and is left to the next run;
* only ``key_id`` and ``ciphertext`` change: not ``updated_at``, since the secret is the same
  and readers take a new ``updated_at`` for a new secret (the OAuth2 refresher does);
* when no key of the ring decrypts it (unknown key id, failed integrity check) it is reported
  by its identity and reason, never by content, and the walk goes on past it.

Installed copies keep the secrets an app gave at subscription (Stripe's endpoint signing
secret) sealed inside their JSON ``state`` (``{"sealed": {"kid", "blob"}}``): they are
rotated the same way, a row at a time under the same kind of guard (the state's text as read).

Interrupted anywhere, a rotation loses at most its open batch, whose rows still carry their old
key (which is still in the ring): running it again finishes the work, and once every row is
under the current key a run re-encrypts nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Connection, Engine, Select, Table, Text, cast, func, select, update

from solder.security.crypto import KeyRing, KeyRingError
from solder.store.accounts import secret_aad
from solder.store.db import reader
from solder.store.installs import credential_aad, hook_state_aad
from solder.store.tables import credentials, server_secrets, workflow_installs

BATCH_SIZE = 200


@dataclass(frozen=True)
class Sealed:
    """A table of secrets at rest: ``key_id`` and ``ciphertext`` columns beside an identity."""

    table: Table
    identity: Column[str]
    aad: Callable[[str], str]


SEALED = (
    Sealed(credentials, credentials.c.id, credential_aad),
    Sealed(server_secrets, server_secrets.c.name, secret_aad),
)


@dataclass(frozen=True)
class Undecryptable:
    row: str
    """The row's identity (an id or a name): never its content."""
    reason: str


@dataclass
class TableRotation:
    table: str
    reencrypted: int = 0
    current: int = 0
    """Rows already under the current key when the rotation of this table began."""
    changed: int = 0
    """Rows another writer changed between the read and the guarded update (left as they are)."""
    undecryptable: list[Undecryptable] = field(default_factory=list)


def rotate(
    engine: Engine,
    ring: KeyRing,
    *,
    batch_size: int = BATCH_SIZE,
    after_batch: Callable[[TableRotation], None] | None = None,
) -> list[TableRotation]:
    """Re-encrypt every sealed table under ``ring``'s current key; one report per table.

    ``after_batch`` is called after each committed batch with that table's report so far.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    reports = [_rotate_table(engine, ring, sealed, batch_size, after_batch) for sealed in SEALED]
    return [*reports, _rotate_hook_states(engine, ring, batch_size, after_batch)]


def _rotate_table(
    engine: Engine,
    ring: KeyRing,
    sealed: Sealed,
    batch_size: int,
    after_batch: Callable[[TableRotation], None] | None,
) -> TableRotation:
    table, identity, current = sealed.table, sealed.identity, ring.current_id
    report = TableRotation(table.name)
    with reader(engine).connect() as conn:
        count = select(func.count()).select_from(table).where(table.c.key_id == current)
        report.current = conn.execute(count).scalar_one()
    query = select(identity, table.c.key_id, table.c.ciphertext).where(table.c.key_id != current)
    return _walk(
        engine, query, identity, lambda conn, row: _rotate_row(conn, ring, sealed, row, report),
        report, batch_size, after_batch,
    )  # fmt: skip


def _walk(
    engine: Engine,
    query: Select[Any],
    identity: Column[str],
    handle: Callable[[Connection, Any], None],
    report: TableRotation,
    batch_size: int,
    after_batch: Callable[[TableRotation], None] | None,
) -> TableRotation:
    """``handle`` every row of ``query`` in batches by ``identity``, a transaction each.

    Keyset pagination: rows left as they were (undecryptable or changed) are passed over.
    """
    last: str | None = None
    while True:
        page = query if last is None else query.where(identity > last)
        with engine.begin() as conn:
            rows = conn.execute(page.order_by(identity).limit(batch_size)).all()
            for row in rows:
                handle(conn, row)
        if not rows:
            return report
        last = rows[-1][0]
        if after_batch is not None:
            after_batch(report)
        if len(rows) < batch_size:
            return report


def _rotate_row(
    conn: Connection, ring: KeyRing, sealed: Sealed, row: Any, report: TableRotation
) -> None:
    """Re-encrypt one row (identity, key_id, ciphertext) unless it changed since it was read."""
    ident, old_kid, old_blob = row
    aad = sealed.aad(ident)
    try:
        plaintext = ring.decrypt(old_kid, old_blob, aad)
    except KeyRingError as exc:
        report.undecryptable.append(Undecryptable(ident, exc.message))
        return
    kid, blob = ring.encrypt(plaintext, aad)
    table = sealed.table
    result = conn.execute(
        update(table)
        .where(
            sealed.identity == ident,
            table.c.key_id == old_kid,
            table.c.ciphertext == old_blob,
        )
        .values(key_id=kid, ciphertext=blob)
    )
    if result.rowcount == 1:
        report.reencrypted += 1
    else:
        report.changed += 1


HOOK_STATES = "workflow_installs.state"


def _rotate_hook_states(
    engine: Engine,
    ring: KeyRing,
    batch_size: int,
    after_batch: Callable[[TableRotation], None] | None,
) -> TableRotation:
    """The sealed secrets inside installed copies' states, walked in batches by id."""
    report = TableRotation(HOOK_STATES)
    query = select(workflow_installs.c.id, cast(workflow_installs.c.state, Text))
    return _walk(
        engine, query, workflow_installs.c.id,
        lambda conn, row: _rotate_hook_state(conn, ring, str(row[0]), row[1], report),
        report, batch_size, after_batch,
    )  # fmt: skip


def _rotate_hook_state(
    conn: Connection, ring: KeyRing, ident: str, raw: str, report: TableRotation
) -> None:
    state = json.loads(raw) if raw else {}
    sealed = state.get("sealed") if isinstance(state, dict) else None
    if not isinstance(sealed, dict) or "blob" not in sealed:
        return  # nothing sealed in this copy's state
    if sealed.get("kid") == ring.current_id:
        report.current += 1
        return
    try:
        blob = base64.b64decode(str(sealed["blob"]), validate=True)
        plaintext = ring.decrypt(str(sealed.get("kid")), blob, hook_state_aad(ident))
    except (KeyRingError, binascii.Error, ValueError) as exc:
        reason = exc.message if isinstance(exc, KeyRingError) else "the sealed blob is not base64"
        report.undecryptable.append(Undecryptable(ident, reason))
        return
    kid, new_blob = ring.encrypt(plaintext, hook_state_aad(ident))
    resealed = {**state, "sealed": {"kid": kid, "blob": base64.b64encode(new_blob).decode()}}
    result = conn.execute(
        update(workflow_installs)
        .where(workflow_installs.c.id == ident, cast(workflow_installs.c.state, Text) == raw)
        .values(state=resealed)
    )
    if result.rowcount == 1:
        report.reencrypted += 1
    else:
        report.changed += 1
