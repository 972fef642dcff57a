"""Dashboard accounts; runs by workflow, user and version in creation order

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-02 05:00:00

Accounts (an email and an argon2id password hash) are made by the operator with ``solder
accounts create``; an account opens a dashboard session in each environment it may see (ADR
0014).

The runs explorer filtered by workflow, by user or by released version read their newest
page, and count their runs, from ``(environment, <filter>, created_at, id)`` instead of
walking every run of the environment (``bench/dashboard.py`` found those walks).

Written beside 0008 (made in parallel): when both are merged, this one revises 0008.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from solder.store.types import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

RUN_FILTERS = ("workflow_id", "user_id", "version_id")


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
    with op.batch_alter_table("runs", schema=None) as batch_op:
        for column in RUN_FILTERS:
            batch_op.create_index(
                batch_op.f(f"ix_runs_environment_{column}_created_at_id"),
                ["environment", column, "created_at", "id"],
            )


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        for column in reversed(RUN_FILTERS):
            batch_op.drop_index(batch_op.f(f"ix_runs_environment_{column}_created_at_id"))
    op.drop_table("dashboard_accounts")
