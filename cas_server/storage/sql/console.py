"""What the administration console reads and writes beyond the account repository.

Search is a union of index range scans: every condition is a prefix on an
indexed column (``col >= 'dup' AND col < 'duq'``), which SQLite and
PostgreSQL both answer from a B-tree, whatever the collation (a ``LIKE``
beside the range keeps the match exact).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ...accounts.console import (
    AccountDetails,
    AccountSummary,
    LinkedAccount,
    SearchPage,
    clean_query,
    search_key,
)
from ...accounts.i18n import N_
from ...accounts.model import Status, normalize_login
from ...protocol.cas.tickets import TICKET_GRANTING_TICKET
from .accounts import SqlAccountRepository
from .audit_queries import SqlAuditQueries
from .models import AccountLinkRow, AccountRow, CharterAcceptanceRow, TicketRow

A = AccountRow


class ConsoleError(ValueError):
    """A refused change; ``message`` is a msgid, ``params`` its values."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


def _prefix(column: Any, value: str) -> ColumnElement[bool]:
    upper = value[:-1] + chr(ord(value[-1]) + 1)
    return and_(column >= value, column < upper, column.startswith(value, autoescape=True))


def search_condition(query: str) -> ColumnElement[bool] | None:
    """Accounts whose name, login, alias, e-mail or number starts with what was typed."""
    text = clean_query(query)
    if not text:
        return None
    conditions: list[ColumnElement[bool]] = []
    key = search_key(text)
    if key:
        conditions += [_prefix(A.search_family, key), _prefix(A.search_given, key)]
    words = [search_key(w) for w in text.split()]
    words = [w for w in words if w]
    if len(words) >= 2:  # "camille mar", "martin cam"
        first, rest = words[0], "".join(words[1:])
        conditions.append(and_(_prefix(A.search_given, first), _prefix(A.search_family, rest)))
        conditions.append(and_(_prefix(A.search_family, first), _prefix(A.search_given, rest)))
    login = normalize_login(text)
    conditions += [_prefix(A.login, login), _prefix(A.alias, login)]
    # As typed and in lower case: an expression index on lower() would not survive
    # SQLite's table rebuilds in later migrations; addresses are mostly lower case.
    for variant in sorted({text, text.lower()}):
        conditions.append(_prefix(A.personal_email, variant))
    for variant in sorted({text, text.upper(), text.replace(" ", "").upper()}):
        for column in (A.student_number, A.ine, A.personnel_number):
            conditions.append(_prefix(column, variant))
    return or_(*conditions)


def _summary(row: Any) -> AccountSummary:
    return AccountSummary(
        uuid=row.uuid,
        login=row.login,
        alias=row.alias,
        given_name=row.given_name,
        family_name=row.family_name,
        profile=row.profile,
        status=row.status,
        student_number=row.student_number,
        ine=row.ine,
        personnel_number=row.personnel_number,
    )


class SqlConsoleStore(SqlAuditQueries):
    def __init__(self, engine: Engine, accounts: SqlAccountRepository) -> None:
        self.engine = engine
        self.accounts = accounts

    # Search ---------------------------------------------------------------------
    def search(self, query: str, page: int = 1, per_page: int = 25) -> SearchPage:
        condition = search_condition(query)
        page = max(1, page)
        if condition is None:
            return SearchPage([], 0, 1, per_page)
        columns = (
            A.uuid,
            A.login,
            A.alias,
            A.given_name,
            A.family_name,
            A.profile,
            A.status,
            A.student_number,
            A.ine,
            A.personnel_number,
        )
        with Session(self.engine) as session:
            total = session.scalar(select(func.count()).select_from(A).where(condition)) or 0
            if not total:
                return SearchPage([], 0, page, per_page)
            # Sort the matching rows; expressions keep the planner from walking the
            # whole name index in order instead (slower, measured on 100,000 rows).
            order = (
                func.coalesce(A.search_family, ""),
                func.coalesce(A.search_given, ""),
                A.login,
            )
            rows = session.execute(
                select(*columns)
                .where(condition)
                .order_by(*order)
                .limit(per_page)
                .offset((page - 1) * per_page)
            ).all()
        return SearchPage([_summary(r) for r in rows], total, page, per_page)

    def reindex(self) -> int:
        """Recompute the search keys of every account (after a direct database edit)."""
        changed = 0
        with Session(self.engine) as session, session.begin():
            for row in session.execute(
                select(A.uuid, A.family_name, A.given_name, A.search_family, A.search_given)
            ):
                family, given = search_key(row.family_name), search_key(row.given_name)
                if (family, given) != (row.search_family, row.search_given):
                    session.execute(
                        update(A)
                        .where(A.uuid == row.uuid)
                        .values(search_family=family, search_given=given)
                    )
                    changed += 1
        return changed

    # The record -------------------------------------------------------------------
    def details(self, uuid: str) -> AccountDetails | None:
        account = self.accounts.get(uuid)
        if account is None:
            return None
        with Session(self.engine) as session:
            row = session.execute(
                select(
                    A.personal_email_verified_at,
                    A.mobile_verified_at,
                    A.joker_answer_hash.is_not(None).label("has_joker"),
                    A.password_hash.is_not(None).label("has_password"),
                    A.activation_code_hash.is_not(None).label("has_code"),
                ).where(A.uuid == uuid)
            ).one()
            charters = [
                (r.charter, r.version, r.accepted_at)
                for r in session.execute(
                    select(
                        CharterAcceptanceRow.charter,
                        CharterAcceptanceRow.version,
                        CharterAcceptanceRow.accepted_at,
                    )
                    .where(CharterAcceptanceRow.account_uuid == uuid)
                    .order_by(CharterAcceptanceRow.accepted_at.desc())
                    .limit(10)
                )
            ]
            links = self._links(session, uuid)
        return AccountDetails(
            account=account,
            email_verified_at=row.personal_email_verified_at,
            mobile_verified_at=row.mobile_verified_at,
            has_joker=bool(row.has_joker),
            has_password=bool(row.has_password),
            has_activation_code=bool(row.has_code),
            charters=charters,
            links=links,
        )

    def _links(self, session: Session, uuid: str) -> list[LinkedAccount]:
        L = AccountLinkRow
        found: list[LinkedAccount] = []
        for other_column, mine, primary in (
            (L.linked_uuid, L.primary_uuid, False),
            (L.primary_uuid, L.linked_uuid, True),
        ):
            rows = session.execute(
                select(A.uuid, A.login, A.given_name, A.family_name, L.created_at, L.created_by)
                .join(A, A.uuid == other_column)
                .where(mine == uuid)
                .order_by(A.login)
            )
            for r in rows:
                name = " ".join(p for p in (r.given_name, r.family_name) if p) or r.login
                found.append(
                    LinkedAccount(r.uuid, r.login, name, primary, r.created_at, r.created_by)
                )
        return found

    # Changes ------------------------------------------------------------------------
    def _update(self, uuid: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(A).where(A.uuid == uuid).values(modified_at=datetime.now(UTC), **values)
            )

    def set_alias(self, uuid: str, alias: str | None) -> None:
        """Unique against every login and every other alias; raises :class:`ConsoleError`."""
        with Session(self.engine) as session, session.begin():
            if alias is not None:
                clash = session.scalars(
                    select(A.login).where(or_(A.login == alias, A.alias == alias), A.uuid != uuid)
                ).first()
                if clash is not None:
                    raise ConsoleError(
                        N_("%(alias)s is already the login or alias of another account."),
                        alias=alias,
                    )
            try:
                session.execute(
                    update(A)
                    .where(A.uuid == uuid)
                    .values(alias=alias, modified_at=datetime.now(UTC))
                )
                session.flush()
            except IntegrityError as exc:  # a concurrent change took it
                raise ConsoleError(
                    N_("%(alias)s is already the login or alias of another account."), alias=alias
                ) from exc

    def set_status(self, uuid: str, status: Status) -> None:
        self._update(uuid, status=status.value)

    def set_must_change(self, uuid: str, must_change: bool) -> None:
        self._update(uuid, must_change_password=must_change)

    def link(self, primary_uuid: str, linked_uuid: str, actor: str) -> None:
        """``linked`` joins ``primary``; one level only, each account linked once."""
        L = AccountLinkRow
        if primary_uuid == linked_uuid:
            raise ConsoleError(N_("An account cannot be linked to itself."))
        with Session(self.engine) as session, session.begin():
            if session.scalar(select(L.id).where(L.linked_uuid == linked_uuid)) is not None:
                raise ConsoleError(N_("This account is already linked to another account."))
            if session.scalar(select(L.id).where(L.linked_uuid == primary_uuid)) is not None:
                raise ConsoleError(
                    N_("This account is itself linked to another: link to that one instead.")
                )
            if session.scalar(select(L.id).where(L.primary_uuid == linked_uuid)) is not None:
                raise ConsoleError(
                    N_("The other account has accounts linked to it: link them the other way.")
                )
            session.add(
                L(
                    primary_uuid=primary_uuid,
                    linked_uuid=linked_uuid,
                    created_at=datetime.now(UTC),
                    created_by=actor[:128],
                )
            )

    def unlink(self, uuid: str, other_uuid: str) -> bool:
        """Undo the link between two accounts, whichever is the primary one."""
        L = AccountLinkRow
        with self.engine.begin() as conn:
            removed = conn.execute(
                delete(L).where(
                    or_(
                        and_(L.primary_uuid == uuid, L.linked_uuid == other_uuid),
                        and_(L.primary_uuid == other_uuid, L.linked_uuid == uuid),
                    )
                )
            ).rowcount
        return bool(removed)


def session_counts(
    engine: Engine, now: float, limit: int, offset: int = 0
) -> tuple[list[tuple[str, int]], int, int]:
    """(principal, live sessions) most first; the number of principals; of sessions."""
    T = TicketRow
    alive = and_(
        T.kind == TICKET_GRANTING_TICKET,
        T.expires_at > now,
        T.last_used_at + T.idle_timeout > now,
    )
    count = func.count().label("n")
    with engine.connect() as conn:
        rows = conn.execute(
            select(T.principal_id, count)
            .where(alive)
            .group_by(T.principal_id)
            .order_by(count.desc(), T.principal_id)
            .limit(limit)
            .offset(offset)
        ).all()
        totals = conn.execute(
            select(func.count(func.distinct(T.principal_id)), func.count()).where(alive)
        ).one()
    return [(r.principal_id, int(r.n)) for r in rows], int(totals[0]), int(totals[1])
