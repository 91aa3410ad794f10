"""What the self-service pages read and write, on SQL.

Lookups by institution number, personal e-mail or activation code, the
recovery data the account model does not carry (joker, verification
dates), and :class:`SesameTransaction`: one transaction in which an
activation or a reset writes everything or nothing — password (through
:class:`~cas_server.accounts.passwords.PasswordService`, which it serves as
the store: T18), channels, joker, charter, status and tokens.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, func, insert, select, update

from ...accounts.identity import IdentifierKind
from ...accounts.model import Account, Status, normalize_login
from ...accounts.tokens import Purpose, TokenRecord
from .accounts import SqlAccountRepository
from .models import AccountRow, CharterAcceptanceRow, PasswordHistoryRow
from .tokens import NO_LIMIT, SqlTokenStore, end_outstanding

A = cast(Table, AccountRow.__table__)
H = cast(Table, PasswordHistoryRow.__table__)
CH = cast(Table, CharterAcceptanceRow.__table__)
MAX_ACCOUNTS_PER_EMAIL = 10

COLUMNS = {
    IdentifierKind.STUDENT_NUMBER: A.c.student_number,
    IdentifierKind.INE: A.c.ine,
    IdentifierKind.PERSONNEL_NUMBER: A.c.personnel_number,
}


@dataclass(frozen=True)
class RecoveryInfo:
    joker_question: str | None
    joker_answer_hash: str | None
    personal_email_verified_at: datetime | None
    mobile_verified_at: datetime | None


class SqlSesameStore:
    def __init__(self, engine: Engine, accounts: SqlAccountRepository) -> None:
        self.engine = engine
        self.accounts = accounts
        self.tokens = SqlTokenStore(engine)

    def _first_uuid(self, condition: Any) -> str | None:
        with self.engine.connect() as c:
            return c.execute(select(A.c.uuid).where(condition).limit(1)).scalar()

    def find_by_identifier(self, kind: IdentifierKind, value: str) -> Account | None:
        if kind is IdentifierKind.LOGIN:
            return self.accounts.find_by_login(value)
        column = COLUMNS[kind]
        uuid = self._first_uuid(func.upper(column) == value.upper())
        return self.accounts.get(uuid) if uuid else None

    def find_by_personal_email(self, email: str) -> list[Account]:
        with self.engine.connect() as c:
            uuids = c.execute(
                select(A.c.uuid)
                .where(func.lower(A.c.personal_email) == email.strip().lower())
                .order_by(A.c.login)
                .limit(MAX_ACCOUNTS_PER_EMAIL)
            ).scalars()
            found = list(uuids)
        return [a for uuid in found if (a := self.accounts.get(uuid)) is not None]

    def find_by_login_or_email(self, value: str) -> list[Account]:
        if "@" in value:
            by_email = self.find_by_personal_email(value)
            if by_email:
                return by_email
        account = self.accounts.find_by_login(normalize_login(value))
        return [account] if account is not None else []

    def find_by_activation_code(self, code_digest: str) -> Account | None:
        uuid = self._first_uuid(
            (A.c.activation_code_hash == code_digest) & (A.c.status == Status.NOT_ACTIVATED.value)
        )
        return self.accounts.get(uuid) if uuid else None

    def recovery_info(self, uuid: str) -> RecoveryInfo:
        with self.engine.connect() as c:
            row = c.execute(
                select(
                    A.c.joker_question,
                    A.c.joker_answer_hash,
                    A.c.personal_email_verified_at,
                    A.c.mobile_verified_at,
                ).where(A.c.uuid == uuid)
            ).first()
        if row is None:
            return RecoveryInfo(None, None, None, None)
        return RecoveryInfo(*row)

    def set_activation_code(self, uuid: str, code_digest: str | None) -> None:
        """Store (the hash of) an activation code handed out or mailed to the person."""
        with self.engine.begin() as c:
            c.execute(update(A).where(A.c.uuid == uuid).values(activation_code_hash=code_digest))

    def set_joker(self, uuid: str, question: str, answer_hash: str, now: datetime) -> None:
        with self.transaction() as tx:
            tx.set_joker(uuid, question, answer_hash, now)

    @contextmanager
    def transaction(self) -> Iterator[SesameTransaction]:
        """Everything written through the yielded object commits together, or not at all;
        what waited for the commit (``after_commit``) runs after it, and only then."""
        with self.engine.begin() as conn:
            tx = SesameTransaction(conn, self.tokens)
            yield tx
        for action in tx.committed:
            action()


class SesameTransaction:
    """A unit of work; also the :class:`PasswordStore` of a PasswordService for its duration."""

    def __init__(self, conn: Connection, tokens: SqlTokenStore) -> None:
        self.conn = conn
        self.tokens = tokens
        self.committed: list[Callable[[], None]] = []

    def after_commit(self, action: Callable[[], None]) -> None:
        self.committed.append(action)

    # PasswordStore --------------------------------------------------------
    def password_history(self, uuid: str, limit: int) -> list[str]:
        rows = self.conn.execute(
            select(H.c.password_hash)
            .where(H.c.account_uuid == uuid)
            .order_by(H.c.created_at.desc(), H.c.id.desc())
            .limit(limit)
        ).scalars()
        return list(rows)

    def store_password(
        self,
        uuid: str,
        password_hash: str,
        *,
        must_change: bool,
        expires_at: datetime | None,
    ) -> None:
        now = _utc_now()
        result = self.conn.execute(
            update(A)
            .where(A.c.uuid == uuid)
            .values(
                password_hash=password_hash,
                password_changed_at=now,
                password_expires_at=expires_at,
                must_change_password=must_change,
                modified_at=now,
            )
        )
        if result.rowcount != 1:
            raise KeyError(uuid)
        self.conn.execute(
            insert(H).values(account_uuid=uuid, password_hash=password_hash, created_at=now)
        )
        self.conn.execute(end_outstanding(uuid, time.time()))

    # Account data ---------------------------------------------------------
    def set_channels(
        self,
        uuid: str,
        *,
        email: str | None,
        mobile: str | None,
        email_verified_at: datetime | None,
        mobile_verified_at: datetime | None,
        now: datetime,
    ) -> None:
        self.conn.execute(
            update(A)
            .where(A.c.uuid == uuid)
            .values(
                personal_email=email,
                personal_email_verified_at=email_verified_at,
                mobile=mobile,
                mobile_verified_at=mobile_verified_at,
                modified_at=now,
            )
        )

    def set_personal_email(self, uuid: str, email: str, verified_at: datetime) -> None:
        self.conn.execute(
            update(A)
            .where(A.c.uuid == uuid)
            .values(
                personal_email=email,
                personal_email_verified_at=verified_at,
                modified_at=verified_at,
            )
        )

    def set_joker(self, uuid: str, question: str, answer_hash: str, now: datetime) -> None:
        self.conn.execute(
            update(A)
            .where(A.c.uuid == uuid)
            .values(joker_question=question, joker_answer_hash=answer_hash, modified_at=now)
        )

    def accept_charter(self, uuid: str, charter_id: str, version: str, now: datetime) -> None:
        self.conn.execute(
            insert(CH).values(
                account_uuid=uuid, charter=charter_id, version=version, accepted_at=now
            )
        )

    def activate(self, uuid: str, now: datetime) -> bool:
        """Not activated → active; False if the account was activated meanwhile."""
        result = self.conn.execute(
            update(A)
            .where((A.c.uuid == uuid) & (A.c.status == Status.NOT_ACTIVATED.value))
            .values(status=Status.ACTIVE.value, activation_code_hash=None, modified_at=now)
        )
        return result.rowcount == 1

    # Tokens -----------------------------------------------------------------
    def consume(
        self, secret: str, purpose: Purpose, now: float, max_attempts: int = NO_LIMIT
    ) -> TokenRecord | None:
        return self.tokens.consume(secret, purpose, now, max_attempts=max_attempts, conn=self.conn)

    def invalidate_tokens(self, uuid: str, now: float) -> int:
        return self.tokens.invalidate_all(uuid, now, conn=self.conn)


def _utc_now() -> datetime:
    return datetime.now(UTC)
