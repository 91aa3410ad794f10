"""Applying a CSV plan to the accounts table in one transaction.

The dry run computes exactly what the real run would do and rolls back;
the real run commits everything or nothing. Re-importing a file changes
nothing: rows equal to the database are reported unchanged.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from ...accounts.csv_import import Plan, Rejected, Row, make_login
from ...accounts.i18n import N_
from ...accounts.model import Profile, Source, Status
from .models import AccountRow

UPDATABLE = (
    "given_name",
    "family_name",
    "birth_date",
    "profile",
    "student_number",
    "ine",
    "personnel_number",
    "mobile",
    "external_id",
)
MATCH_ORDER = ("external_id", "login", "student_number", "ine", "personnel_number")
UNIQUE = ("student_number", "ine", "personnel_number", "login")


@dataclass
class ImportReport:
    created: list[tuple[int, str]] = field(default_factory=list)
    updated: list[tuple[int, str, list[str]]] = field(default_factory=list)
    unchanged: list[tuple[int, str]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    dry_run: bool = True

    @property
    def counts(self) -> dict[str, int]:
        return {
            "created": len(self.created),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "rejected": len(self.rejected),
        }


def _column_value(values: Any, name: str) -> Any:
    value = values.get(name)
    return value.value if isinstance(value, Profile) else value


def _find(session: Session, row: Row) -> AccountRow | Rejected | None:
    """The account this line describes; a line whose identifiers name different accounts
    (or a login that is not the account's) is rejected rather than guessed."""
    found: dict[str, AccountRow] = {}
    for name in MATCH_ORDER:
        value = _column_value(row.values, name)
        if value is not None:
            match = session.scalars(
                select(AccountRow).where(getattr(AccountRow, name) == value)
            ).first()
            if match is not None:
                found[name] = match
    if not found:
        if any(_column_value(row.values, name) is not None for name in MATCH_ORDER):
            return None
        return _find_person(session, row)
    accounts = {a.uuid: a for a in found.values()}
    first_name, account = next(iter(found.items()))
    login = _column_value(row.values, "login")
    external = _column_value(row.values, "external_id")
    other = login if login is not None and login != account.login else None
    if other is None and external is not None and account.external_id not in (None, external):
        other = external
    if len(accounts) > 1 or other is not None:
        return Rejected(
            row.line,
            N_("%(column)s %(value)s already belongs to the account %(login)s."),
            {
                "column": first_name,
                "value": _column_value(row.values, first_name),
                "login": account.login,
            },
        )
    return account


def _find_person(session: Session, row: Row) -> AccountRow | Rejected | None:
    """A line without login, number or external id: the imported account of that name."""
    born = row.values.get("birth_date")
    matches = session.scalars(
        select(AccountRow)
        .where(
            AccountRow.source == Source.CSV.value,
            AccountRow.family_name == row.values["family_name"],
            AccountRow.given_name == row.values["given_name"],
            AccountRow.profile == _column_value(row.values, "profile"),
            AccountRow.birth_date == born if born is not None else AccountRow.birth_date.is_(None),
        )
        .limit(2)
    ).all()
    if len(matches) > 1:
        return Rejected(
            row.line,
            N_("Several accounts have this name: add a login or number column to tell them apart."),
        )
    return matches[0] if matches else None


def _conflict(session: Session, row: Row, uuid: str | None) -> Rejected | None:
    for name in UNIQUE:
        value = _column_value(row.values, name)
        if value is None:
            continue
        column = getattr(AccountRow, name)
        condition = (
            or_(column == value, AccountRow.alias == value) if name == "login" else column == value
        )
        other = session.scalars(
            select(AccountRow.login).where(condition, AccountRow.uuid != uuid)
        ).first()
        if other is not None:
            return Rejected(
                row.line,
                N_("%(column)s %(value)s already belongs to the account %(login)s."),
                {"column": name, "value": value, "login": other},
            )
    return None


def _free_login(session: Session, wanted: str) -> str:
    candidate, n = wanted, 1
    while session.scalars(
        select(AccountRow.uuid).where(
            or_(AccountRow.login == candidate, AccountRow.alias == candidate)
        )
    ).first():
        n += 1
        candidate = f"{wanted}{n}"
    return candidate


def apply_plan(engine: Engine, plan: Plan, *, dry_run: bool, actor: str) -> ImportReport:
    report = ImportReport(rejected=list(plan.rejected), dry_run=dry_run)
    now = datetime.now(UTC)
    with Session(engine) as session:
        transaction = session.begin()
        try:
            seen: dict[str, int] = {}  # accounts this run already touched → their line
            for row in plan.rows:
                _apply_row(session, row, report, now, seen)
                session.flush()  # later rows see earlier ones (uniqueness, generated logins)
            if dry_run:
                transaction.rollback()
            else:
                transaction.commit()
        except BaseException:
            transaction.rollback()
            raise
    report.rejected.sort(key=lambda r: r.line)
    return report


def _apply_row(
    session: Session, row: Row, report: ImportReport, now: datetime, seen: dict[str, int]
) -> None:
    existing = _find(session, row)
    if isinstance(existing, Rejected):
        report.rejected.append(existing)
        return
    if existing is not None and existing.uuid in seen:
        report.rejected.append(
            Rejected(
                row.line,
                N_("This line describes the same account as line %(other)s."),
                {"other": seen[existing.uuid]},
            )
        )
        return
    conflict = _conflict(session, row, existing.uuid if existing else None)
    if conflict:
        report.rejected.append(conflict)
        return
    structure = row.values.get("structure")
    if existing is None:
        login = _column_value(row.values, "login") or _free_login(
            session, make_login(str(row.values["given_name"]), str(row.values["family_name"]))
        )
        account = AccountRow(
            uuid=str(uuidlib.uuid4()),
            login=login,
            source=Source.CSV.value,
            status=Status.NOT_ACTIVATED.value,
            personal_email=row.values.get("personal_email"),
            attributes={"structure": [structure]} if structure else {},
            must_change_password=False,
            created_at=now,
            modified_at=now,
        )
        for name in UPDATABLE:
            setattr(account, name, _column_value(row.values, name))
        session.add(account)
        seen[account.uuid] = row.line
        report.created.append((row.line, login))
        return
    seen[existing.uuid] = row.line
    changed = []
    for name in UPDATABLE:
        value = _column_value(row.values, name)
        if value is not None and getattr(existing, name) != value:
            setattr(existing, name, value)
            changed.append(name)
    # A personal e-mail the user verified themselves wins over the file's.
    email = row.values.get("personal_email")
    if email and existing.personal_email_verified_at is None and existing.personal_email != email:
        existing.personal_email = str(email)
        changed.append("personal_email")
    if structure and (existing.attributes or {}).get("structure") != [structure]:
        existing.attributes = {**(existing.attributes or {}), "structure": [structure]}
        changed.append("structure")
    if changed:
        existing.modified_at = now
        report.updated.append((row.line, existing.login, changed))
    else:
        report.unchanged.append((row.line, existing.login))
