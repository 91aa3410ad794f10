"""The audit trail as the console reads it: filtered pages, a CSV export, the purge;
and a person's own history (:func:`history_for`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, delete, func, or_, select, text, union_all

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


# --- A person's sign-in history ("My sign-ins", #15) ------------------------------

# The events a person sees about their own account, by the trail's codes: bare
# (sign-in, second factor, command line) or with the area that recorded them
# (``sesame_``, ``profile_``, ``admin_``; see web/admin/audit_labels.py).
_HISTORY_BASES = (
    # sign-ins, successful or not, suspensions, sign-outs
    "login",
    "login_lock",
    "logout",
    "password_change",
    "new_device_notice",
    # passwords and recovery
    "password",
    "password_set",
    "password_request",
    "password_reset",
    "email_link",
    "facts_link",
    "temporary_link",
    "sms_code",
    "facts",
    "joker",
    "identifier",
    "identifier_request",
    "activation",
    "activation_code",
    "reset_link",
    "reset_sms",
    "force_change",
    "lock",
    "unlock",
    # second factors
    "mfa_enrol",
    "mfa_remove",
    "mfa_rename",
    "mfa_verify",
    "mfa_recovery_codes",
    "mfa_recovery_code_used",
    "mfa_trusted_device",
    "mfa_step_up",
    "mfa_webauthn_counter",
    "mfa_import",
    # session ends
    "session_end_self",
    "sessions_end_others",
    "session_end",
    "end_sessions",
    # impersonation by the help desk
    "impersonation_start",
    "impersonation_ticket",
    "impersonation_end",
)
HISTORY_ACTIONS: tuple[str, ...] = tuple(
    f"{area}{base}" for base in _HISTORY_BASES for area in ("", "sesame_", "profile_", "admin_")
)
# Written into the statement once (our own constants, plain ASCII codes): an IN list
# of bound values would be expanded and bound again at every call.
assert all(a.replace("_", "").isalnum() and a.isascii() for a in HISTORY_ACTIONS)
_QUOTED = ", ".join(f"'{a}'" for a in HISTORY_ACTIONS)
_IN_HISTORY = text(f"audit_events.action IN ({_QUOTED})")


@dataclass(frozen=True)
class HistoryEvent:
    """One line of a person's history: no actor, no account ids (they are the reader's)."""

    at: datetime
    action: str
    outcome: str
    ip: str | None
    details: Mapping[str, Any]


def history_for(
    engine: Engine, account_uuid: str, login: str, since: datetime, page: int, per_page: int
) -> tuple[list[HistoryEvent], bool]:
    """The account's events since ``since``, newest first: one page, and whether another follows.

    The account's events, and those filed under its login alone (an unknown
    account at the time, e.g. a failed sign-in) — never another account's
    that had the same login. Two index ranges read newest first,
    ``(account_uuid, at)`` and ``(login, at)``, each stopped after the page,
    then merged: the cost follows the page, not the account's whole history.
    """
    E = AuditEventRow
    per_page = max(1, min(per_page, 200))
    offset = (max(1, page) - 1) * per_page
    enough = offset + per_page + 1
    columns = (E.id, E.at, E.action, E.outcome, E.ip, E.details)
    recent = (E.at >= since, _IN_HISTORY)
    own = (
        select(*columns)
        .where(E.account_uuid == account_uuid, *recent)
        .order_by(E.at.desc(), E.id.desc())
        .limit(enough)
    )
    by_login = (
        select(*columns)
        .where(E.login == login, E.account_uuid.is_(None), *recent)
        .order_by(E.at.desc(), E.id.desc())
        .limit(enough)
    )
    both = union_all(own.subquery().select(), by_login.subquery().select()).subquery()
    query = (
        select(both.c.at, both.c.action, both.c.outcome, both.c.ip, both.c.details)
        .order_by(both.c.at.desc(), both.c.id.desc())
        .limit(per_page + 1)
        .offset(offset)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    events = [
        HistoryEvent(r.at, r.action, r.outcome, r.ip, dict(r.details or {}))
        for r in rows[:per_page]
    ]
    return events, len(rows) > per_page
