"""Hosted install links: made by ``install-url``, used up by the installation they complete."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from solder.errors import Conflict
from solder.store.tables import install_links
from solder.store.types import new_id, utcnow


def create(
    conn: Connection, env: str, user_id: str, integration_id: str, lasts: timedelta
) -> tuple[str, datetime]:
    """A new link's id and expiry."""
    link_id, now = new_id(), utcnow()
    conn.execute(
        insert(install_links).values(
            id=link_id, environment=env, user_id=user_id, integration_id=integration_id,
            created_at=now, expires_at=now + lasts,
        )
    )  # fmt: skip
    return link_id, now + lasts


def get(conn: Connection, link_id: str) -> Any:
    """The link's row, or None (never made, or its user or integration was deleted)."""
    return conn.execute(select(install_links).where(install_links.c.id == link_id)).first()


def use(conn: Connection, link_id: str, installation_id: str) -> None:
    """Mark the link used by ``installation_id``; a link used already is a ``Conflict``."""
    done = conn.execute(
        update(install_links)
        .where(install_links.c.id == link_id, install_links.c.used_at.is_(None))
        .values(used_at=utcnow(), installation_id=installation_id)
    )
    if done.rowcount != 1:
        raise Conflict("token: this install link was used already", field="token")
