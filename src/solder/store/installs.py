"""Credentials, installations and the per-user copies of workflows they create."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from solder.errors import NotFound
from solder.security.crypto import KeyRing
from solder.store.tables import credentials, installations, workflow_installs
from solder.store.types import new_id, utcnow

# ---- credentials -------------------------------------------------------------------------


def hook_state_aad(install_id: str) -> str:
    """What an installed copy's sealed webhook secrets (``state.sealed``) are bound to."""
    return f"hook-state:{install_id}"


def credential_aad(credential_id: str) -> str:
    """What a credential's ciphertext is bound to: its own row."""
    return f"credentials:{credential_id}"


_aad = credential_aad


def add_credential(
    conn: Connection, ring: KeyRing, env: str, user_id: str, app: str, data: dict[str, Any]
) -> str:
    credential_id = new_id()
    kid, blob = ring.encrypt_json(data, _aad(credential_id))
    now = utcnow()
    conn.execute(
        insert(credentials).values(
            id=credential_id,
            environment=env,
            user_id=user_id,
            app=app,
            name=app,
            key_id=kid,
            ciphertext=blob,
            created_at=now,
            updated_at=now,
        )
    )
    return credential_id


def list_credentials(conn: Connection, env: str, user_id: str) -> list[Any]:
    q = select(credentials).where(
        credentials.c.environment == env, credentials.c.user_id == user_id
    )
    return list(conn.execute(q.order_by(credentials.c.created_at)))


def get_credential(conn: Connection, env: str, user_id: str, credential_id: str) -> Any:
    return find_credential(conn, env, credential_id, user_id)


def find_credential(
    conn: Connection, env: str, credential_id: str, user_id: str | None = None
) -> Any:
    """A credential of the environment (of ``user_id`` too when given), else ``NotFound``."""
    q = select(credentials).where(
        credentials.c.environment == env, credentials.c.id == credential_id
    )
    if user_id is not None:
        q = q.where(credentials.c.user_id == user_id)
    row = conn.execute(q).first()
    if row is None:
        raise NotFound(f"credentialId: no credential {credential_id!r}", field="credentialId")
    return row


def credential_data(ring: KeyRing, row: Any) -> dict[str, Any]:
    data = ring.decrypt_json(row.key_id, row.ciphertext, _aad(row.id))
    assert isinstance(data, dict)
    return data


def delete_credential(conn: Connection, credential_id: str) -> None:
    conn.execute(delete(credentials).where(credentials.c.id == credential_id))


# ---- installations -----------------------------------------------------------------------


def start_installation(
    conn: Connection,
    env: str,
    user_id: str,
    integration_id: str,
    credential_ids: list[str],
    workflow_ids: list[str],
    *,
    version_ids: dict[str, str] | None = None,
    output_override: dict[str, Any] | None = None,
) -> str:
    """``version_ids``: the released version asked for, by workflow (the rest get the newest
    when the installation completes); ``output_override``: checked (``engine.output``)."""
    installation_id = new_id()
    conn.execute(
        insert(installations).values(
            id=installation_id,
            environment=env,
            user_id=user_id,
            integration_id=integration_id,
            credential_ids=credential_ids,
            workflow_ids=workflow_ids,
            form_data={},
            status="started",
            created_at=utcnow(),
            version_ids=version_ids or None,
            output_override=output_override,
        )
    )
    return installation_id


def get_installation(conn: Connection, env: str, installation_id: str) -> Any:
    row = conn.execute(
        select(installations).where(
            installations.c.environment == env, installations.c.id == installation_id
        )
    ).first()
    if row is None:
        raise NotFound(f"installationId: no installation {installation_id!r}", "installationId")
    return row


def list_installations(conn: Connection, env: str, user_id: str | None = None) -> list[Any]:
    q = select(installations).where(installations.c.environment == env)
    if user_id is not None:
        q = q.where(installations.c.user_id == user_id)
    return list(conn.execute(q.order_by(installations.c.created_at)))


def complete_installation(conn: Connection, installation_id: str, form_data: Any) -> None:
    conn.execute(
        update(installations)
        .where(installations.c.id == installation_id)
        .values(form_data=form_data, status="complete", installed_at=utcnow())
    )


def reopen_installation(conn: Connection, installation_id: str) -> None:
    """Back to 'started' after a completion that had to be undone."""
    conn.execute(
        update(installations)
        .where(installations.c.id == installation_id)
        .values(status="started", installed_at=None)
    )


# ---- workflow installs -------------------------------------------------------------------


def find_install(conn: Connection, user_id: str, workflow_id: str) -> Any:
    return conn.execute(
        select(workflow_installs).where(
            workflow_installs.c.user_id == user_id, workflow_installs.c.workflow_id == workflow_id
        )
    ).first()


def get_install(conn: Connection, user_id: str, workflow_id: str) -> Any:
    row = find_install(conn, user_id, workflow_id)
    if row is None:
        raise NotFound("workflowId: this user has not installed that workflow", "workflowId")
    return row


def install_by_id(conn: Connection, install_id: str) -> Any:
    return conn.execute(
        select(workflow_installs).where(workflow_installs.c.id == install_id)
    ).first()


def put_install(conn: Connection, values: dict[str, Any]) -> str:
    """Insert or replace the user's copy of a workflow (reinstall replaces)."""
    now = utcnow()
    existing = find_install(conn, values["user_id"], values["workflow_id"])
    if existing is not None:
        conn.execute(
            update(workflow_installs)
            .where(workflow_installs.c.id == existing.id)
            .values(**values, updated_at=now)
        )
        return str(existing.id)
    install_id = new_id()
    conn.execute(
        insert(workflow_installs).values(id=install_id, installed_at=now, updated_at=now, **values)
    )
    return install_id


def set_install(conn: Connection, install_id: str, **values: Any) -> None:
    conn.execute(
        update(workflow_installs)
        .where(workflow_installs.c.id == install_id)
        .values(**values, updated_at=utcnow())
    )


def delete_install(conn: Connection, install_id: str) -> None:
    conn.execute(delete(workflow_installs).where(workflow_installs.c.id == install_id))


def installs_of_user(conn: Connection, user_id: str) -> list[Any]:
    q = select(workflow_installs).where(workflow_installs.c.user_id == user_id)
    return list(conn.execute(q))


def installs_of_workflow(conn: Connection, workflow_id: str) -> list[Any]:
    q = select(workflow_installs).where(workflow_installs.c.workflow_id == workflow_id)
    return list(conn.execute(q.order_by(workflow_installs.c.installed_at)))


def active_installs(conn: Connection, env: str, user_id: str, trigger_key: str) -> list[Any]:
    q = select(workflow_installs).where(
        workflow_installs.c.environment == env,
        workflow_installs.c.user_id == user_id,
        workflow_installs.c.trigger_key == trigger_key,
        workflow_installs.c.active.is_(True),
    )
    return list(conn.execute(q))


def subscribed_installs(conn: Connection, app: str) -> list[Any]:
    """Active installed copies whose trigger is one of ``app``'s events (webhook or poll)."""
    return list(
        conn.execute(
            select(workflow_installs).where(
                workflow_installs.c.active.is_(True),
                workflow_installs.c.trigger_key.like(f"app:{app}:%"),
            )
        )
    )
