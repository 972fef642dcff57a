"""Runs by environment and creation time, with and without status: the dashboard's explorer

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 02:30:00

``GET /logs?sortBy=createdAt`` (optionally ``status``, ``since``, ``until``) reads the newest
page of an environment's runs from these indexes, in their order (the id breaks ties),
instead of sorting all of them.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_runs_environment_created_at_id"), ["environment", "created_at", "id"]
        )
        batch_op.create_index(
            batch_op.f("ix_runs_environment_status_created_at_id"),
            ["environment", "status", "created_at", "id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_environment_status_created_at_id"))
        batch_op.drop_index(batch_op.f("ix_runs_environment_created_at_id"))
