"""Dashboard accounts: an email and an argon2id password hash, logging in to the dashboard

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-02 05:00:00

Made by the operator with ``solder accounts create``; an account opens a dashboard session
in each environment it may see (ADR 0014). Written beside 0008 (made in parallel): when
both are merged, this one revises 0008.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from solder.store.types import UTCDateTime

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_accounts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("environments", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_login_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_accounts")),
        sa.UniqueConstraint("email", name=op.f("uq_dashboard_accounts_email")),
    )


def downgrade() -> None:
    op.drop_table("dashboard_accounts")
