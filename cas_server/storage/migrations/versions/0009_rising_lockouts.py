"""lock levels and password-spraying counters (#16)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 01:20:00.000000

Expand only (rolling upgrades, #17): new tables and nullable columns, nothing
dropped or renamed, so the previous release keeps working on this schema.

``throttle_counters`` gains the lock level of a key (rising lockouts:
``[login] lock_steps``) and when that level is forgotten. The previous
release never reads nor writes them: its locks stay fixed, and its
``reset`` (a row deleted) clears the level too. Password spraying needs no
table of its own: its counters are ordinary rows of the same table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on both databases (no table copy): the previous
    # release keeps counting in this table while the migration runs.
    op.add_column("throttle_counters", sa.Column("level", sa.Integer(), nullable=True))
    op.add_column("throttle_counters", sa.Column("level_until", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("throttle_counters") as batch:
        batch.drop_column("level_until")
        batch.drop_column("level")
