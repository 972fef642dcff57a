"""API keys and the server's own secrets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from solder.security import keys
from solder.security.crypto import KeyRing
from solder.store.tables import api_keys, server_secrets
from solder.store.types import new_id, utcnow


def create_key(conn: Connection, environment: keys.Environment) -> str:
    """Store a new key's hash and return the key itself: the only time it is seen."""
    key = keys.generate(environment)
    conn.execute(
        insert(api_keys).values(
            id=new_id(),
            environment=environment,
            prefix=keys.display_prefix(key),
            key_hash=keys.hash_key(key),
            created_at=utcnow(),
        )
    )
    return key


def environment_of(conn: Connection, key: str) -> str | None:
    row = conn.execute(
        select(api_keys.c.environment).where(
            api_keys.c.key_hash == keys.hash_key(key), api_keys.c.revoked_at.is_(None)
        )
    ).first()
    return None if row is None else str(row.environment)


def environment_of_hash(conn: Connection, key_hash: str) -> str | None:
    """The environment of an unrevoked key, found by its hash (a dashboard session's key)."""
    row = conn.execute(
        select(api_keys.c.environment).where(
            api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None)
        )
    ).first()
    return None if row is None else str(row.environment)


def list_keys(conn: Connection, environment: str) -> list[Any]:
    """The keys of an environment, newest first: ids, prefixes and dates (hashes stay here)."""
    q = select(api_keys.c.id, api_keys.c.prefix, api_keys.c.key_hash, api_keys.c.created_at,
               api_keys.c.revoked_at).where(api_keys.c.environment == environment)  # fmt: skip
    return list(conn.execute(q.order_by(api_keys.c.created_at.desc(), api_keys.c.id)))


def key_id_of(conn: Connection, key: str) -> str | None:
    row = conn.execute(select(api_keys.c.id).where(api_keys.c.key_hash == keys.hash_key(key)))
    found = row.first()
    return None if found is None else str(found.id)


def revoke_key(conn: Connection, environment: str, key_id: str) -> Any:
    """Mark a key revoked (idempotent); the row as it is now, or None if the id is unknown."""
    q = select(api_keys).where(api_keys.c.environment == environment, api_keys.c.id == key_id)
    row = conn.execute(q).first()
    if row is not None and row.revoked_at is None:
        conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=utcnow()))
        row = conn.execute(q).first()
    return row


def active_key_count(conn: Connection, environment: str) -> int:
    q = select(func.count()).select_from(api_keys)
    q = q.where(api_keys.c.environment == environment, api_keys.c.revoked_at.is_(None))
    return int(conn.execute(q).scalar_one())


def secret_aad(name: str) -> str:
    """The associated data a server secret's ciphertext is bound to (its row)."""
    return f"server_secrets:{name}"


def get_or_create_secret(
    conn: Connection, ring: KeyRing, name: str, make: Callable[[], bytes]
) -> bytes:
    """Read a named server secret, storing a new one from ``make()`` when there is none yet."""
    aad = secret_aad(name)
    query = select(server_secrets).where(server_secrets.c.name == name)
    row = conn.execute(query).first()
    if row is None:
        value = make()
        kid, blob = ring.encrypt(value, aad)
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(server_secrets).values(
                        name=name, key_id=kid, ciphertext=blob, created_at=utcnow()
                    )
                )
            return value
        except IntegrityError:  # another process stored it first: use theirs
            row = conn.execute(query).one()
    return ring.decrypt(row.key_id, row.ciphertext, aad)
