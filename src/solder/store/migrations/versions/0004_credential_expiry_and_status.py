"""Credentials: when an OAuth2 access token expires, who is refreshing it, whether the user
must reconnect, and until when the app asked (429) not to be called with it

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 20:00:00

``expires_at`` lets the refresh happen before the token expires; ``refresh_until`` is a short
lease that lets exactly one process refresh a credential at a time, whichever wins the
conditional update; ``status`` is "connected" or "needs_reconnect" (a refresh the app refused);
``paused_until`` holds the connection's runs after a 429, for every worker; ``rate_tat`` is
the connection's place in its app's declared rate (the next call's theoretical time, GCRA).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import solder.store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("expires_at", solder.store.types.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("refresh_until", solder.store.types.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("status", sa.String(length=32), nullable=False, server_default="connected")
        )
        batch_op.add_column(
            sa.Column("paused_until", solder.store.types.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("rate_tat", solder.store.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_column("rate_tat")
        batch_op.drop_column("paused_until")
        batch_op.drop_column("status")
        batch_op.drop_column("refresh_until")
        batch_op.drop_column("expires_at")
