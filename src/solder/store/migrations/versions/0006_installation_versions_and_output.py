"""Installations: the version asked for each workflow, and where the output goes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 02:00:00

``installations.version_ids`` maps each chosen workflow to the released version the SDK's
``versionIds`` (or the headless API) asked for; a workflow missing from it gets the newest.
``output_override`` is the SDK's ``outputOverride``, checked, kept with the installation and
copied onto each installed copy (``workflow_installs.output_override``), whose runs apply it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("installations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version_ids", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("output_override", sa.JSON(), nullable=True))
    with op.batch_alter_table("workflow_installs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("output_override", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workflow_installs", schema=None) as batch_op:
        batch_op.drop_column("output_override")
    with op.batch_alter_table("installations", schema=None) as batch_op:
        batch_op.drop_column("output_override")
        batch_op.drop_column("version_ids")
