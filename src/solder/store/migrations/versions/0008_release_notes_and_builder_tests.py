"""Release notes on workflow versions; the builder's last test run per workflow

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 05:00:00

``POST /manage/workflows/{id}/release`` stores an optional note with the version it makes;
``POST /manage/workflows/{id}/test`` keeps its answer (one row per workflow, replaced by the
next test) so the builder can show the last test's outputs after a reload.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import solder.store.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workflow_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
    op.create_table(
        "workflow_tests",
        sa.Column("workflow_id", sa.String(length=32), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("tested_at", solder.store.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_workflow_tests_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workflow_id", name=op.f("pk_workflow_tests")),
    )


def downgrade() -> None:
    op.drop_table("workflow_tests")
    with op.batch_alter_table("workflow_versions", schema=None) as batch_op:
        batch_op.drop_column("note")
