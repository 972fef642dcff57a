"""OAuth2 credentials: when the access token expires, who is refreshing it, and whether the
user must reconnect

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 20:00:00

``expires_at`` lets the refresh happen before the token expires; ``refresh_until`` is a short
lease that lets exactly one process refresh a credential at a time, whichever wins the
conditional update; ``status`` is "connected" or "needs_reconnect" (a refresh the app refused).
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


def downgrade() -> None:
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_column("status")
        batch_op.drop_column("refresh_until")
        batch_op.drop_column("expires_at")
