"""Secrets sealed under known key rings, for the tests of re-encryption (store and CLI)."""

from __future__ import annotations

import os

from sqlalchemy import Engine, select

from solder.security.crypto import KeyRing
from solder.store import accounts, installs, users
from solder.store.tables import credentials

OLD = KeyRing((os.urandom(32),))
NEW = KeyRing((os.urandom(32),))
STRAY = KeyRing((os.urandom(32),))
BOTH = KeyRing(NEW.keys + OLD.keys)
SIGNING = b"the server's signing key"


def seed(engine: Engine, ring: KeyRing, count: int, *, secret: bool = True) -> dict[str, str]:
    """``count`` credentials (and the server secret) under ``ring``; credential id -> token."""
    with engine.begin() as conn:
        user = users.create(conn, "development", f"u{os.urandom(4).hex()}", None)
        made = {
            installs.add_credential(
                conn, ring, "development", user, "bigcommerce", {"token": f"tok-{n}"}
            ): f"tok-{n}"
            for n in range(count)
        }
        if secret:
            accounts.get_or_create_secret(conn, ring, "signing-key", lambda: SIGNING)
    return made


def tokens(engine: Engine, ring: KeyRing) -> dict[str, str]:
    """Every credential decrypted with ``ring`` (raises if one does not decrypt)."""
    with engine.connect() as conn:
        rows = conn.execute(select(credentials)).all()
    return {row.id: installs.credential_data(ring, row)["token"] for row in rows}


def key_ids(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(select(credentials.c.id, credentials.c.key_id)).all()
    return {row.id: row.key_id for row in rows}


def signing_secret(engine: Engine, ring: KeyRing) -> bytes:
    with engine.begin() as conn:
        return accounts.get_or_create_secret(conn, ring, "signing-key", lambda: b"made anew")
