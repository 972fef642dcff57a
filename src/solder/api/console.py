"""/manage/keys and /manage/users: what the dashboard lists that Alloy's API does not.

Keys: list (prefix and dates only), create (the key is in that one response and never
again), revoke. Users: one page at a time, sorted by username, with a username-prefix search
served by the ``(environment, username)`` unique index.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from solder.api.auth import ServerCaller, ServicesDep, forget_key
from solder.api.schemas import Body
from solder.errors import BadInput, Conflict, NotFound
from solder.store import accounts, users
from solder.store.types import iso

router = APIRouter(prefix="/manage", tags=["management"])


def _key_view(row: Any, caller_hash: str | None) -> dict[str, Any]:
    return {
        "keyId": row.id,
        "prefix": row.prefix,
        "createdAt": iso(row.created_at),
        "revokedAt": iso(row.revoked_at),
        "current": row.key_hash == caller_hash,
    }


@router.get("/keys")
def list_keys(who: ServerCaller, services: ServicesDep) -> dict[str, Any]:
    """The caller's environment's keys; ``current`` marks the one this call was made with."""
    with services.reader.connect() as conn:
        rows = accounts.list_keys(conn, who.env)
    return {"environment": who.env, "data": [_key_view(r, who.key_hash) for r in rows]}


class NewKey(Body):
    environment: Literal["development", "production"] | None = Field(
        default=None, description="must be the caller's own environment when given"
    )


@router.post("/keys")
def create_key(who: ServerCaller, services: ServicesDep, body: NewKey | None = None) -> Any:
    """A new key of the caller's environment; the response is the only place it appears."""
    if body is not None and body.environment not in (None, who.env):
        raise BadInput(
            f"environment: a {who.env} key can only create {who.env} keys", field="environment"
        )
    with services.engine.begin() as conn:
        key = accounts.create_key(conn, who.env)  # type: ignore[arg-type]
        key_id = accounts.key_id_of(conn, key)
    return {"keyId": key_id, "environment": who.env, "key": key}


@router.delete("/keys/{key_id}")
def revoke_key(key_id: str, who: ServerCaller, services: ServicesDep) -> dict[str, Any]:
    """Revoke a key; the key this call is made with cannot be (log in with another first)."""
    with services.engine.begin() as conn:
        found = [r for r in accounts.list_keys(conn, who.env) if r.id == key_id]
        if not found:
            raise NotFound(f"keyId: no key {key_id!r}", field="keyId")
        if found[0].key_hash == who.key_hash:
            raise Conflict(
                "keyId: this is the key you are using; revoke it with another key",
                field="keyId",
            )
        row = accounts.revoke_key(conn, who.env, key_id)
    forget_key(row.key_hash)
    return {"success": True, "revokedAt": iso(row.revoked_at)}


@router.get("/users")
def search_users(
    who: ServerCaller,
    services: ServicesDep,
    search: str | None = Query(None, max_length=255, description="username prefix"),
    skip: int = Query(0, ge=0, le=1_000_000_000),
    limit: int = Query(25, ge=1, le=100),
) -> dict[str, Any]:
    """Users sorted by username, a page at a time; ``search`` keeps usernames starting with it."""
    prefix = (search or "").strip() or None
    with services.reader.connect() as conn:
        total = users.count(conn, who.env, prefix=prefix)
        rows = users.by_username(conn, who.env, prefix=prefix, offset=skip, limit=limit)
    return {
        "data": [{**users.public(r), "createdAt": iso(r.created_at)} for r in rows],
        "totalItems": total,
        "totalPages": math.ceil(total / limit),
        "currentPage": skip // limit + 1,
        "pageSize": limit,
    }
