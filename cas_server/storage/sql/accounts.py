"""Accounts on SQL."""

from __future__ import annotations

import time
import uuid as uuidlib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import Engine, Table, bindparam, delete, or_, select, update
from sqlalchemy.orm import Session

from ...accounts.model import Account, Profile, Source, Status, normalize_login
from .models import AccountRoleRow, AccountRow, CharterAcceptanceRow, PasswordHistoryRow
from .tokens import end_outstanding

_ACCOUNTS = cast(Table, AccountRow.__table__)
_ROLES = cast(Table, AccountRoleRow.__table__)
# The account whose login or alias is ``key``, a row per role (one with a NULL role if
# it has none).
_BY_LOGIN = (
    select(_ACCOUNTS, _ROLES.c.role)
    .select_from(_ACCOUNTS.outerjoin(_ROLES, _ROLES.c.account_uuid == _ACCOUNTS.c.uuid))
    .where(or_(_ACCOUNTS.c.login == bindparam("key"), _ACCOUNTS.c.alias == bindparam("key")))
)


def _to_account(row: Any, roles: Iterable[str]) -> Account:
    """An account from its row: an ORM ``AccountRow`` or a Core row of the table."""
    return Account(
        uuid=row.uuid,
        login=row.login,
        profile=Profile(row.profile),
        status=Status(row.status),
        given_name=row.given_name,
        family_name=row.family_name,
        alias=row.alias,
        external_id=row.external_id,
        source=Source(row.source),
        birth_date=row.birth_date,
        student_number=row.student_number,
        ine=row.ine,
        personnel_number=row.personnel_number,
        personal_email=row.personal_email,
        mobile=row.mobile,
        password_hash=row.password_hash,
        must_change_password=row.must_change_password,
        roles=frozenset(roles),
        attributes={k: tuple(v) for k, v in (row.attributes or {}).items()},
        created_at=row.created_at,
        modified_at=row.modified_at,
        last_login_at=row.last_login_at,
        password_changed_at=row.password_changed_at,
        password_expires_at=row.password_expires_at,
    )


class AccountExists(ValueError):
    pass


class SqlAccountRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _load(self, session: Session, row: AccountRow | None) -> Account | None:
        if row is None:
            return None
        roles = session.scalars(
            select(AccountRoleRow.role).where(AccountRoleRow.account_uuid == row.uuid)
        ).all()
        return _to_account(row, roles)

    def find_by_login(self, login: str) -> Account | None:
        # Core, not the ORM, and one statement built once: every SAML single sign-on
        # reads the account, and an ORM session with its row processing costs a
        # millisecond (the same columns and types).
        key = normalize_login(login)
        with self.engine.connect() as conn:
            rows = conn.execute(_BY_LOGIN, {"key": key}).all()
        if not rows:
            return None
        first = rows[0]
        roles = [r.role for r in rows if r.uuid == first.uuid and r.role is not None]
        return _to_account(first, roles)

    def get(self, uuid: str) -> Account | None:
        with Session(self.engine) as session:
            return self._load(session, session.get(AccountRow, uuid))

    def record_login(self, uuid: str, at: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(AccountRow).where(AccountRow.uuid == uuid).values(last_login_at=at))

    def create(
        self,
        login: str,
        *,
        profile: Profile,
        status: Status = Status.ACTIVE,
        password_hash: str | None = None,
        given_name: str = "",
        family_name: str = "",
        birth_date: date | None = None,
        student_number: str | None = None,
        ine: str | None = None,
        personnel_number: str | None = None,
        personal_email: str | None = None,
        mobile: str | None = None,
        source: Source = Source.LOCAL,
        attributes: Mapping[str, Iterable[str]] | None = None,
        roles: Iterable[str] = (),
        now: datetime | None = None,
    ) -> Account:
        """A new account, in one transaction (history and roles included)."""
        now = now or datetime.now(UTC)
        key = normalize_login(login)
        with Session(self.engine) as session, session.begin():
            clash = session.scalars(
                select(AccountRow.uuid).where(or_(AccountRow.login == key, AccountRow.alias == key))
            ).first()
            if clash:
                raise AccountExists(f"login {key!r} is already taken")
            row = AccountRow(
                uuid=str(uuidlib.uuid4()),
                login=key,
                profile=profile.value,
                status=status.value,
                given_name=given_name,
                family_name=family_name,
                birth_date=birth_date,
                student_number=student_number,
                ine=ine,
                personnel_number=personnel_number,
                personal_email=personal_email,
                mobile=mobile,
                source=source.value,
                password_hash=password_hash,
                password_changed_at=now if password_hash else None,
                must_change_password=False,
                attributes={k: list(v) for k, v in (attributes or {}).items()},
                created_at=now,
                modified_at=now,
            )
            session.add(row)
            session.flush()
            if password_hash:
                session.add(
                    PasswordHistoryRow(
                        account_uuid=row.uuid, password_hash=password_hash, created_at=now
                    )
                )
            for role in sorted(set(roles)):
                session.add(AccountRoleRow(account_uuid=row.uuid, role=role))
            session.flush()
            account = self._load(session, row)
        assert account is not None
        return account

    def store_password(
        self,
        uuid: str,
        password_hash: str,
        *,
        must_change: bool = False,
        expires_at: datetime | None = None,
        now: datetime | None = None,
    ) -> None:
        """Store a new password and add it to the history, in one transaction.

        Called by :class:`~cas_server.accounts.passwords.PasswordService`,
        which checks the policy first.
        """
        now = now or datetime.now(UTC)
        with Session(self.engine) as session, session.begin():
            row = session.get(AccountRow, uuid)
            if row is None:
                raise KeyError(uuid)
            row.password_hash = password_hash
            row.password_changed_at = now
            row.password_expires_at = expires_at
            row.must_change_password = must_change
            if row.status == "not_activated" and not must_change:
                row.status = "active"
            row.modified_at = now
            session.add(
                PasswordHistoryRow(account_uuid=uuid, password_hash=password_hash, created_at=now)
            )
            session.execute(end_outstanding(uuid, time.time()))

    def after_commit(self, action: Callable[[], None]) -> None:
        """Each write here commits on its own: ``action`` runs now."""
        action()

    def password_history(self, uuid: str, limit: int) -> list[str]:
        with Session(self.engine) as session:
            return list(
                session.scalars(
                    select(PasswordHistoryRow.password_hash)
                    .where(PasswordHistoryRow.account_uuid == uuid)
                    .order_by(PasswordHistoryRow.created_at.desc(), PasswordHistoryRow.id.desc())
                    .limit(limit)
                )
            )

    def password_expires_at(self, uuid: str) -> datetime | None:
        with Session(self.engine) as session:
            return session.scalar(
                select(AccountRow.password_expires_at).where(AccountRow.uuid == uuid)
            )

    def set_status(self, uuid: str, status: Status) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(AccountRow)
                .where(AccountRow.uuid == uuid)
                .values(status=status.value, modified_at=datetime.now(UTC))
            )

    def accepted_charter_version(self, uuid: str, charter_id: str) -> str | None:
        with Session(self.engine) as session:
            return session.scalar(
                select(CharterAcceptanceRow.version)
                .where(
                    CharterAcceptanceRow.account_uuid == uuid,
                    CharterAcceptanceRow.charter == charter_id,
                )
                .order_by(CharterAcceptanceRow.accepted_at.desc(), CharterAcceptanceRow.id.desc())
                .limit(1)
            )

    def accept_charter(self, uuid: str, charter_id: str, version: str) -> None:
        with Session(self.engine) as session, session.begin():
            session.add(
                CharterAcceptanceRow(
                    account_uuid=uuid,
                    charter=charter_id,
                    version=version,
                    accepted_at=datetime.now(UTC),
                )
            )

    def set_attributes(self, uuid: str, attributes: Mapping[str, Iterable[str]]) -> None:
        with Session(self.engine) as session, session.begin():
            row = session.get(AccountRow, uuid)
            if row is None:
                raise KeyError(uuid)
            row.attributes = {k: list(v) for k, v in attributes.items()}
            row.modified_at = datetime.now(UTC)

    def set_roles(self, uuid: str, roles: Iterable[str]) -> None:
        with Session(self.engine) as session, session.begin():
            session.execute(delete(AccountRoleRow).where(AccountRoleRow.account_uuid == uuid))
            for role in sorted(set(roles)):
                session.add(AccountRoleRow(account_uuid=uuid, role=role))
