"""Sweep jobs: an image's role (image or contact sheet) and sweep cell; a running
sweep's cells so far.

Existing images become plain images (the column's server default).

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.add_column(
            sa.Column("role", sa.String(length=16), nullable=False, server_default="image")
        )
        batch.add_column(sa.Column("sweep_cell", sa.Integer(), nullable=True))
        batch.create_index("ix_images_role_created_at", ["role", "created_at"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("cells", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("cells")
    with op.batch_alter_table("images") as batch:
        batch.drop_index("ix_images_role_created_at")
        batch.drop_column("sweep_cell")
        batch.drop_column("role")
