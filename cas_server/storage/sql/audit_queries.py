"""The audit trail as the console reads it: filtered pages, a CSV export, the purge."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, delete, func, or_, select

from ...accounts.console import AuditEvent, AuditFilter
from .models import AuditEventRow

EXPORT_BATCH = 1000


def _event(row: Any) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        at=row.at,
        action=row.action,
        outcome=row.outcome,
        account_uuid=row.account_uuid,
        login=row.login,
        actor=row.actor,
        ip=row.ip,
        details=dict(row.details or {}),
    )


def _day_start(day: Any) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


class SqlAuditQueries:
    engine: Engine

    def _audit_where(self, f: AuditFilter) -> list[ColumnElement[bool]]:
        E = AuditEventRow
        where: list[ColumnElement[bool]] = []
        if f.account_uuid and f.login:
            where.append(or_(E.account_uuid == f.account_uuid, E.login == f.login))
        elif f.account_uuid:
            where.append(E.account_uuid == f.account_uuid)
        elif f.login:
            where.append(E.login == f.login)
        if f.action:
            where.append(E.action == f.action)
        if f.since:
            where.append(E.at >= _day_start(f.since))
        if f.until:
            where.append(E.at < _day_start(f.until) + timedelta(days=1))
        return where

    def audit_page(self, f: AuditFilter, page: int, per_page: int) -> tuple[list[AuditEvent], int]:
        E = AuditEventRow
        where = self._audit_where(f)
        with self.engine.connect() as conn:
            total = conn.scalar(select(func.count()).select_from(E).where(*where)) or 0
            rows = conn.execute(
                select(E.__table__)
                .where(*where)
                .order_by(E.at.desc(), E.id.desc())
                .limit(per_page)
                .offset((max(1, page) - 1) * per_page)
            ).all()
        return [_event(r) for r in rows], total

    def audit_events(self, f: AuditFilter) -> Iterator[AuditEvent]:
        """Every matching event, oldest first, read in batches (CSV export)."""
        E = AuditEventRow
        where = self._audit_where(f)
        last = 0
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(E.__table__)
                    .where(*where, E.id > last)
                    .order_by(E.id)
                    .limit(EXPORT_BATCH)
                ).all()
            if not rows:
                return
            for row in rows:
                yield _event(row)
            last = rows[-1].id

    def audit_actions(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(
                conn.scalars(select(AuditEventRow.action).distinct().order_by(AuditEventRow.action))
            )

    def purge_audit(self, before: datetime) -> int:
        with self.engine.begin() as conn:
            return int(
                conn.execute(delete(AuditEventRow).where(AuditEventRow.at < before)).rowcount
            )
