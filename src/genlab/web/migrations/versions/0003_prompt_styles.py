"""Prompt styles clients imported (A1111's styles.csv), server-wide like options.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prompt_styles",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("negative_prompt", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_prompt_styles")),
    )


def downgrade() -> None:
    op.drop_table("prompt_styles")
