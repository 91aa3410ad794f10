"""the help-request queue (#16)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 01:20:00.000000

Expand only (rolling upgrades, #17): new tables and nullable columns, nothing
dropped or renamed, so the previous release keeps working on this schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "help_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("requester_name", sa.String(length=100), nullable=False),
        sa.Column("child_name", sa.String(length=100), nullable=True),
        sa.Column("school", sa.String(length=150), nullable=True),
        sa.Column("login_hint", sa.String(length=128), nullable=True),
        sa.Column("contact_email", sa.String(length=254), nullable=True),
        sa.Column("contact_phone", sa.String(length=32), nullable=True),
        sa.Column("case", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assigned_to", sa.String(length=128), nullable=True),
        sa.Column("account_uuid", sa.String(length=36), nullable=True),
        sa.Column("closed_at", sa.Double(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["account_uuid"], ["accounts.uuid"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    with op.batch_alter_table("help_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_help_requests_account_uuid"), ["account_uuid"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_help_requests_closed_at"), ["closed_at"], unique=False)
        batch_op.create_index(
            "ix_help_requests_status_created", ["status", "created_at"], unique=False
        )

    op.create_table(
        "help_request_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["help_requests.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("help_request_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_help_request_events_request_id"), ["request_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("help_request_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_help_request_events_request_id"))
    op.drop_table("help_request_events")
    with op.batch_alter_table("help_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_help_requests_status_created")
        batch_op.drop_index(batch_op.f("ix_help_requests_closed_at"))
        batch_op.drop_index(batch_op.f("ix_help_requests_account_uuid"))
    op.drop_table("help_requests")
