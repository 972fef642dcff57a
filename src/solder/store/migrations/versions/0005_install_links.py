"""Hosted install links: one row per link, so a link installs once

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 23:30:00

``GET /users/{id}/integrations/{id}/install-url`` stores a row and signs its id into the link;
the installation completed through the link stamps ``used_at`` and ``installation_id``, after
which the link only says that it was used.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import solder.store.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "install_links",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("integration_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", solder.store.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", solder.store.types.UTCDateTime(), nullable=False),
        sa.Column("used_at", solder.store.types.UTCDateTime(), nullable=True),
        sa.Column("installation_id", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_install_links_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_install_links_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_install_links")),
    )


def downgrade() -> None:
    op.drop_table("install_links")
