"""console: search keys on accounts (filled for existing rows), audit index on login

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 14:18:33.072748
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _key(text: str) -> str:
    """A frozen copy of cas_server.accounts.console.search_key (as of this revision)."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = stripped.casefold().replace("ß", "ss").replace("æ", "ae").replace("œ", "oe")
    return "".join(ch for ch in folded if ch.isascii() and ch.isalnum())[:255]


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("search_family", sa.String(length=255), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("search_given", sa.String(length=255), nullable=False, server_default="")
        )
        batch_op.create_index(
            "ix_accounts_search_family", ["search_family", "search_given"], unique=False
        )
        batch_op.create_index("ix_accounts_search_given", ["search_given"], unique=False)

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_login"), ["login"], unique=False)

    accounts = sa.table(
        "accounts",
        sa.column("uuid", sa.String),
        sa.column("given_name", sa.String),
        sa.column("family_name", sa.String),
        sa.column("search_family", sa.String),
        sa.column("search_given", sa.String),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(accounts.c.uuid, accounts.c.family_name, accounts.c.given_name)
    ).all()
    for row in rows:
        conn.execute(
            accounts.update()
            .where(accounts.c.uuid == row.uuid)
            .values(search_family=_key(row.family_name), search_given=_key(row.given_name))
        )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.alter_column("search_family", server_default=None)
        batch_op.alter_column("search_given", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_login"))

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_accounts_search_given")
        batch_op.drop_index("ix_accounts_search_family")
        batch_op.drop_column("search_given")
        batch_op.drop_column("search_family")
