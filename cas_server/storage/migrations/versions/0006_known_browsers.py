"""browsers known per account, for the new-device notice (#15)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 01:20:00.000000

Expand only (rolling upgrades, #17): new tables and nullable columns, nothing
dropped or renamed, so the previous release keeps working on this schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "known_browsers",
        sa.Column("account_uuid", sa.String(length=36), nullable=False),
        sa.Column("browser_hash", sa.String(length=64), nullable=False),
        sa.Column("first_seen", sa.Double(), nullable=False),
        sa.Column("last_seen", sa.Double(), nullable=False),
        sa.Column("user_agent", sa.String(length=400), nullable=True),
        sa.ForeignKeyConstraint(["account_uuid"], ["accounts.uuid"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_uuid", "browser_hash"),
    )
    with op.batch_alter_table("known_browsers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_known_browsers_last_seen"), ["last_seen"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("known_browsers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_known_browsers_last_seen"))
    op.drop_table("known_browsers")
