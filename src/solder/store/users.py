"""End users of the ISV, scoped by environment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Select, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from solder.errors import Conflict, NotFound
from solder.store.tables import users
from solder.store.types import new_id, utcnow


def public(row: Any) -> dict[str, Any]:
    return {"userId": row.id, "username": row.username, "fullName": row.full_name}


def create(conn: Connection, env: str, username: str, full_name: str | None) -> str:
    now = utcnow()
    user_id = new_id()
    try:
        with conn.begin_nested():
            conn.execute(
                insert(users).values(
                    id=user_id,
                    environment=env,
                    username=username,
                    full_name=full_name,
                    created_at=now,
                    updated_at=now,
                )
            )
    except IntegrityError as exc:
        raise Conflict(f"username: {username!r} is taken", field="username") from exc
    return user_id


def create_many(conn: Connection, env: str, items: Sequence[tuple[str, str | None]]) -> list[str]:
    names = [u for u, _ in items]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise Conflict(f"users: username {dupes[0]!r} appears twice", field="users")
    taken = conn.execute(
        select(users.c.username).where(users.c.environment == env, users.c.username.in_(names))
    ).first()
    if taken is not None:
        raise Conflict(f"users: username {taken.username!r} is taken", field="users")
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "id": new_id(),
            "environment": env,
            "username": u,
            "full_name": f,
            "created_at": now,
            "updated_at": now,
        }
        for u, f in items
    ]
    if rows:
        try:
            with conn.begin_nested():
                conn.execute(insert(users), rows)
        except IntegrityError as exc:  # a concurrent request took one of the names
            raise Conflict("users: a username in the batch is taken", field="users") from exc
    return [str(r["id"]) for r in rows]


def get(conn: Connection, env: str, ref: str) -> Any:
    """A user by id or by username (Alloy accepts either wherever a userId goes).

    An id wins over a username: a user may pick another user's id as their username, and
    must not be able to shadow that user.
    """
    in_env = select(users).where(users.c.environment == env)
    row = conn.execute(in_env.where(users.c.id == ref)).first()
    if row is None:
        row = conn.execute(in_env.where(users.c.username == ref)).first()
    if row is None:
        raise NotFound(f"userId: no user {ref!r}", field="userId")
    return row


def list_(conn: Connection, env: str, *, offset: int = 0, limit: int | None = None) -> list[Any]:
    q = select(users).where(users.c.environment == env).order_by(users.c.created_at, users.c.id)
    if limit is not None:
        q = q.offset(offset).limit(limit)
    return list(conn.execute(q))


def _prefixed(env: str, prefix: str | None) -> list[Any]:
    """Usernames in ``env`` starting with ``prefix``, as a range the unique index serves
    (``LIKE`` would not use it on PostgreSQL without a pattern operator class)."""
    where: list[Any] = [users.c.environment == env]
    if prefix:
        where += [users.c.username >= prefix, users.c.username < prefix + "\U0010ffff"]
    return where


def count(conn: Connection, env: str, *, prefix: str | None = None) -> int:
    q = select(func.count()).select_from(users).where(*_prefixed(env, prefix))
    return int(conn.execute(q).scalar_one())


def username_page(env: str, *, prefix: str | None, offset: int, limit: int) -> Select[Any]:
    """One page of users sorted by username (the order of the unique index)."""
    q = select(users).where(*_prefixed(env, prefix)).order_by(users.c.username)
    return q.offset(offset).limit(limit)


def by_username(
    conn: Connection, env: str, *, prefix: str | None, offset: int, limit: int
) -> list[Any]:
    return list(conn.execute(username_page(env, prefix=prefix, offset=offset, limit=limit)))


def update_(conn: Connection, env: str, ref: str, changes: dict[str, Any]) -> Any:
    row = get(conn, env, ref)
    if changes:
        try:
            with conn.begin_nested():
                conn.execute(
                    update(users).where(users.c.id == row.id).values(**changes, updated_at=utcnow())
                )
        except IntegrityError as exc:
            raise Conflict("username: that username is taken", field="username") from exc
    return get(conn, env, row.id)


def delete_(conn: Connection, env: str, ref: str) -> None:
    row = get(conn, env, ref)
    conn.execute(delete(users).where(users.c.id == row.id))
