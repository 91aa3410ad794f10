"""SAML 2.0 identity provider: session participants and release consents (#18)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 19:00:00.000000

Expand only (rolling upgrades, #17): new tables, nothing dropped or renamed,
so the previous release keeps working on this schema (it never reads them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "saml_participants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_handle", sa.String(length=64), nullable=False),
        sa.Column("sp_entity_id", sa.String(length=1024), nullable=False),
        sa.Column("name_id", sa.String(length=1024), nullable=False),
        sa.Column("name_id_format", sa.String(length=256), nullable=False),
        sa.Column("session_index", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("saml_participants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_saml_participants_session_handle"), ["session_handle"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_saml_participants_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "saml_consents",
        sa.Column("account_uuid", sa.String(length=36), nullable=False),
        sa.Column("sp_entity_id", sa.String(length=1024), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.Column("given_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["account_uuid"], ["accounts.uuid"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_uuid", "sp_entity_id"),
    )
    with op.batch_alter_table("saml_consents", schema=None) as batch_op:
        batch_op.create_index(
            "ix_saml_consents_account_given", ["account_uuid", "given_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("saml_consents", schema=None) as batch_op:
        batch_op.drop_index("ix_saml_consents_account_given")
    op.drop_table("saml_consents")
    with op.batch_alter_table("saml_participants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_saml_participants_expires_at"))
        batch_op.drop_index(batch_op.f("ix_saml_participants_session_handle"))
    op.drop_table("saml_participants")
