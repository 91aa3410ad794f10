"""self-registration requests of external users (#16)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 01:20:00.000000

Expand only (rolling upgrades, #17): new tables and nullable columns, nothing
dropped or renamed, so the previous release keeps working on this schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registration_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("login", sa.String(length=128), nullable=True),
        sa.Column("account_uuid", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("registration_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_registration_requests_email"), ["email"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_registration_requests_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            "ix_registration_requests_status", ["status", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("registration_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_registration_requests_status")
        batch_op.drop_index(batch_op.f("ix_registration_requests_expires_at"))
        batch_op.drop_index(batch_op.f("ix_registration_requests_email"))
    op.drop_table("registration_requests")
