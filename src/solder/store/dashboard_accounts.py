"""Dashboard accounts: an email, an argon2id password hash and the environments it may see.

Made, listed and deleted by the operator (``solder accounts``); read by the dashboard's login
(``api/sessions.py``) and by every call made with an account's session (``api/auth.py``),
which is why deleting an account ends its sessions at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from solder.errors import BadInput, Conflict
from solder.security import keys
from solder.store.tables import dashboard_accounts
from solder.store.types import new_id, utcnow

MAX_EMAIL = 254


def normal_email(email: str) -> str:
    """The email as stored and looked up (trimmed, lower-cased); ``BadInput`` if not one."""
    value = email.strip().lower()
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain or len(value) > MAX_EMAIL or " " in value:
        raise BadInput("email: expected an email address such as ops@example.com", field="email")
    return value


def environments_of(row: Any) -> list[str]:
    return [env for env in str(row.environments).split(",") if env]


def create(conn: Connection, email: str, password_hash: str, environments: Sequence[str]) -> str:
    wanted = [env for env in keys.ENVIRONMENTS if env in set(environments)]
    unknown = set(environments) - set(keys.ENVIRONMENTS)
    if unknown or not wanted:
        raise BadInput(f"env: expected some of {list(keys.ENVIRONMENTS)}", field="env")
    account_id = new_id()
    values = {
        "id": account_id,
        "email": normal_email(email),
        "password_hash": password_hash,
        "environments": ",".join(wanted),
        "created_at": utcnow(),
    }
    try:
        with conn.begin_nested():
            conn.execute(insert(dashboard_accounts).values(**values))
    except IntegrityError as exc:
        raise Conflict(f"email: an account for {values['email']} exists", field="email") from exc
    return account_id


def by_email(conn: Connection, email: str) -> Any:
    q = select(dashboard_accounts).where(dashboard_accounts.c.email == email.strip().lower())
    return conn.execute(q).first()


def by_id(conn: Connection, account_id: str) -> Any:
    q = select(dashboard_accounts).where(dashboard_accounts.c.id == account_id)
    return conn.execute(q).first()


def list_all(conn: Connection) -> list[Any]:
    q = select(dashboard_accounts.c.id, dashboard_accounts.c.email,
               dashboard_accounts.c.environments, dashboard_accounts.c.created_at,
               dashboard_accounts.c.last_login_at)  # fmt: skip
    return list(conn.execute(q.order_by(dashboard_accounts.c.email)))


def logged_in(conn: Connection, account_id: str, new_hash: str | None = None) -> None:
    """Note the login's time, and store ``new_hash`` when the old one's settings were weaker."""
    values: dict[str, Any] = {"last_login_at": utcnow()}
    if new_hash is not None:
        values["password_hash"] = new_hash
    conn.execute(
        update(dashboard_accounts).where(dashboard_accounts.c.id == account_id).values(**values)
    )


def delete_(conn: Connection, email: str) -> bool:
    """Delete the account of ``email``; False when there is none."""
    q = delete(dashboard_accounts).where(dashboard_accounts.c.email == email.strip().lower())
    return bool(conn.execute(q).rowcount)
