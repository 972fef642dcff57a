"""an index for the installed copies one user's event starts

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 17:05:00

Accepting a custom event looks up the user's active copies started by it. The only index
that served it was (environment, trigger_key, active), which walks every user's copies of that
event: 10,000 rows per event with 10,000 installations.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workflow_installs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workflow_installs_user_id_trigger_key"),
            ["user_id", "trigger_key"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("workflow_installs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_installs_user_id_trigger_key"))
