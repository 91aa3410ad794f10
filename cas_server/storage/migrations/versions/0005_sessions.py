"""live sessions: client, services per session, audit history index (#15)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 01:20:00.000000

Expand only (rolling upgrades, #17): new tables and nullable columns, nothing
dropped or renamed, so the previous release keeps working on this schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

SESSIONS_ONLY = "kind = 'TGT'"
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _create_index(
    name: str, table: str, columns: list[str], *, sessions_only: bool = False
) -> None:
    """An index built beside the running release: on PostgreSQL ``CONCURRENTLY``
    (outside the migration's transaction), so that a large ``audit_events`` or
    ``tickets`` table is never locked against writes while it builds (a plain
    CREATE INDEX blocks every sign-in's audit row for as long as it takes)."""
    where = sa.text(SESSIONS_ONLY) if sessions_only else None
    context = op.get_context()
    if context.dialect.name == "postgresql":
        with context.autocommit_block():
            op.create_index(
                name,
                table,
                columns,
                unique=False,
                if_not_exists=True,  # a build interrupted earlier leaves it behind
                postgresql_concurrently=True,
                postgresql_where=where,
            )
    else:
        op.create_index(name, table, columns, unique=False, sqlite_where=where)


def upgrade() -> None:
    # The concurrent index builds below commit what comes before them: if one
    # is interrupted, the next run finds these columns and this table already
    # there, so each step is skipped when done.
    inspector = sa.inspect(op.get_bind())
    have = {column["name"] for column in inspector.get_columns("tickets")}
    # Plain ADD COLUMN (no batch rebuild on SQLite): a node of the previous
    # release keeps writing tickets meanwhile.
    for column in (
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.Column("client_network", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=400), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=True),
    ):
        if column.name not in have:
            op.add_column("tickets", column)
    if not inspector.has_table("session_services"):
        _session_services()
    _indexes()


def _session_services() -> None:
    op.create_table(
        "session_services",
        sa.Column("tgt_id", sa.String(length=64), nullable=False),
        sa.Column("service_id", sa.String(length=64), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("first_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("tgt_id", "service_id"),
    )
    op.create_index(
        "ix_session_services_service_id", "session_services", ["service_id"], unique=False
    )


def _indexes() -> None:
    # Partial: only sessions (TGT rows) are searched; service tickets maintain none.
    _create_index("ix_tickets_client_ip", "tickets", ["client_ip"], sessions_only=True)
    _create_index("ix_tickets_client_network", "tickets", ["client_network"], sessions_only=True)
    _create_index(
        "ix_tickets_kind_created_at", "tickets", ["kind", "created_at"], sessions_only=True
    )
    _create_index("ix_audit_events_account_at", "audit_events", ["account_uuid", "at"])
    _create_index("ix_audit_events_login_at", "audit_events", ["login", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_login_at", table_name="audit_events")
    op.drop_index("ix_audit_events_account_at", table_name="audit_events")
    op.drop_index("ix_session_services_service_id", table_name="session_services")
    op.drop_table("session_services")
    op.drop_index("ix_tickets_kind_created_at", table_name="tickets")
    op.drop_index("ix_tickets_client_network", table_name="tickets")
    op.drop_index("ix_tickets_client_ip", table_name="tickets")
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_column("public")
        batch_op.drop_column("user_agent")
        batch_op.drop_column("client_network")
        batch_op.drop_column("client_ip")
