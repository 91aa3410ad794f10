"""Self-registration requests on SQL, and the account each one becomes (#16, part 1).

Single use is one conditional ``UPDATE``, the first statement of its transaction
(on SQLite it takes the write lock before anything is read): of a burst of
confirmations of one link, one changes the row and creates the account, every
other one changes nothing. The account is written in the same transaction as the
request's new status, so there is never a confirmed request without its account
nor an account whose request is still open. A login taken by another transaction
at the same instant (PostgreSQL) rolls everything back and the next number is tried.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from ...accounts.console import search_key
from ...accounts.model import Profile, Source, Status
from ...accounts.recovery import COUNTRY_ATTRIBUTE, ORGANISATION_TYPE_ATTRIBUTE
from ...accounts.registration import (
    RegistrationRequest,
    RegistrationStatus,
    base_login,
    login_candidates,
    public_data,
)
from ...accounts.tokens import digest
from .models import (
    AccountRow,
    CharterAcceptanceRow,
    PasswordHistoryRow,
    RegistrationRequestRow,
)

R = cast(Table, RegistrationRequestRow.__table__)
A = cast(Table, AccountRow.__table__)
HISTORY = cast(Table, PasswordHistoryRow.__table__)
CHARTERS = cast(Table, CharterAcceptanceRow.__table__)
ATTEMPTS = 5  # logins raced for by concurrent transactions before giving up
DECIDED_KEEP = 30 * 86400.0  # decided requests are kept this long (the queue's history)


@dataclass(frozen=True)
class AccountSpec:
    """What the configuration gives every created account."""

    profile: Profile
    attributes: Mapping[str, tuple[str, ...]]
    login_pattern: str


@dataclass(frozen=True)
class Outcome:
    """``created`` (the account exists), ``awaiting`` (an operator decides),
    ``taken`` (the address has an account by now: nothing created)."""

    kind: str
    request: RegistrationRequest


def _request(row: Any) -> RegistrationRequest:
    return RegistrationRequest(
        id=row.id,
        email=row.email,
        status=RegistrationStatus(row.status),
        created_at=row.created_at,
        expires_at=row.expires_at,
        data=dict(row.data or {}),
        confirmed_at=row.confirmed_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        reason=row.reason,
        login=row.login,
        account_uuid=row.account_uuid,
    )


class SqlRegistrationStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # The form and its link -------------------------------------------------------------
    def add(
        self, email: str, data: Mapping[str, Any], token: str, now: datetime, ttl: float
    ) -> str:
        request_id = str(uuidlib.uuid4())
        with self.engine.begin() as conn:
            conn.execute(
                insert(R).values(
                    id=request_id,
                    token_hash=digest(token),
                    email=email,
                    data=dict(data),
                    status=RegistrationStatus.MAILED.value,
                    created_at=now,
                    expires_at=now + timedelta(seconds=ttl),
                )
            )
        return request_id

    def email_in_use(self, email: str) -> bool:
        with self.engine.connect() as conn:
            return _email_in_use(conn, email)

    def peek(self, token: str, now: datetime) -> RegistrationRequest | None:
        """The request a link names, while it may still be confirmed (nothing used)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(R).where(_live(token, now))).first()
        return _request(row) if row is not None else None

    def confirm(
        self, token: str, now: datetime, spec: AccountSpec, *, approval: bool
    ) -> Outcome | None:
        """Use the link once: the account (or the approval queue's entry); None if the
        link is unknown, used or expired."""
        for _ in range(ATTEMPTS):
            try:
                with self.engine.begin() as conn:
                    return self._confirm(conn, token, now, spec, approval)
            except IntegrityError:
                continue  # a login taken at the same instant: everything again
        raise RuntimeError("no free login after several attempts")

    def _confirm(
        self, conn: Connection, token: str, now: datetime, spec: AccountSpec, approval: bool
    ) -> Outcome | None:
        status = RegistrationStatus.AWAITING_APPROVAL if approval else RegistrationStatus.CONFIRMED
        changed = conn.execute(
            update(R).where(_live(token, now)).values(status=status.value, confirmed_at=now)
        )
        if changed.rowcount != 1:
            return None
        row = conn.execute(select(R).where(R.c.token_hash == digest(token))).one()
        # The other links asked for the same address die with this one.
        conn.execute(
            update(R)
            .where(
                R.c.email == row.email,
                R.c.id != row.id,
                R.c.status == RegistrationStatus.MAILED.value,
            )
            .values(status=RegistrationStatus.EXPIRED.value)
        )
        if _email_in_use(conn, row.email):
            conn.execute(
                update(R)
                .where(R.c.id == row.id)
                .values(status=RegistrationStatus.EXPIRED.value, data=public_data(row.data))
            )
            return Outcome("taken", _request(row))
        if approval:
            return Outcome(
                "awaiting", _request(conn.execute(select(R).where(R.c.id == row.id)).one())
            )
        return Outcome("created", self._create(conn, row, spec, now, RegistrationStatus.CONFIRMED))

    # The console's queue -----------------------------------------------------------------
    def get(self, request_id: str) -> RegistrationRequest | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(R).where(R.c.id == request_id[:36])).first()
        return _request(row) if row is not None else None

    def awaiting(self, limit: int = 50, offset: int = 0) -> tuple[list[RegistrationRequest], int]:
        waiting = R.c.status == RegistrationStatus.AWAITING_APPROVAL.value
        with self.engine.connect() as conn:
            total = int(
                conn.execute(select(func.count()).select_from(R).where(waiting)).scalar_one()
            )
            rows = conn.execute(
                select(R)
                .where(waiting)
                .order_by(R.c.created_at, R.c.id)
                .limit(limit)
                .offset(offset)
            ).all()
        return [_request(r) for r in rows], total

    def recent_decisions(self, limit: int = 20) -> list[RegistrationRequest]:
        decided = R.c.status.in_(
            (RegistrationStatus.APPROVED.value, RegistrationStatus.REFUSED.value)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(R).where(decided).order_by(R.c.decided_at.desc()).limit(limit)
            ).all()
        return [_request(r) for r in rows]

    def approve(
        self, request_id: str, actor: str, now: datetime, spec: AccountSpec
    ) -> Outcome | None:
        """Create the account of a waiting request, once; None if it is not waiting."""
        for _ in range(ATTEMPTS):
            try:
                with self.engine.begin() as conn:
                    changed = conn.execute(
                        _decide(request_id, RegistrationStatus.APPROVED, actor, now)
                    )
                    if changed.rowcount != 1:
                        return None
                    row = conn.execute(select(R).where(R.c.id == request_id)).one()
                    if _email_in_use(conn, row.email):
                        conn.execute(
                            update(R)
                            .where(R.c.id == row.id)
                            .values(
                                status=RegistrationStatus.REFUSED.value,
                                reason="address already in use",
                                data=public_data(row.data),
                            )
                        )
                        return Outcome("taken", _request(row))
                    created = self._create(conn, row, spec, now, RegistrationStatus.APPROVED)
                    return Outcome("created", created)
            except IntegrityError:
                continue
        raise RuntimeError("no free login after several attempts")

    def refuse(
        self, request_id: str, actor: str, reason: str, now: datetime
    ) -> RegistrationRequest | None:
        """Refuse a waiting request, once; its password hash goes. None if not waiting."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                _decide(request_id, RegistrationStatus.REFUSED, actor, now).values(reason=reason)
            )
            if changed.rowcount != 1:
                return None
            row = conn.execute(select(R).where(R.c.id == request_id)).one()
            conn.execute(update(R).where(R.c.id == row.id).values(data=public_data(row.data)))
        return _request(row)

    # cas-server purge ----------------------------------------------------------------------
    def purge(self, now: datetime, decided_keep: float = DECIDED_KEEP) -> int:
        """Unconfirmed requests whose link has expired, and decided ones after a while."""
        old = now - timedelta(seconds=decided_keep)
        with self.engine.begin() as conn:
            unconfirmed = conn.execute(
                delete(R).where(
                    R.c.status.in_(
                        (RegistrationStatus.MAILED.value, RegistrationStatus.EXPIRED.value)
                    ),
                    R.c.expires_at <= now,
                )
            ).rowcount
            decided = conn.execute(
                delete(R).where(
                    R.c.status.in_(
                        (
                            RegistrationStatus.CONFIRMED.value,
                            RegistrationStatus.APPROVED.value,
                            RegistrationStatus.REFUSED.value,
                        )
                    ),
                    func.coalesce(R.c.decided_at, R.c.confirmed_at, R.c.created_at) <= old,
                )
            ).rowcount
        return int(unconfirmed or 0) + int(decided or 0)

    # The account ---------------------------------------------------------------------------
    def _create(
        self,
        conn: Connection,
        row: Any,
        spec: AccountSpec,
        now: datetime,
        status: RegistrationStatus,
    ) -> RegistrationRequest:
        data = dict(row.data or {})
        given, family = str(data.get("given_name", "")), str(data.get("family_name", ""))
        login = _free_login(conn, base_login(spec.login_pattern, given, family))
        account_uuid = str(uuidlib.uuid4())
        attributes = {k: list(v) for k, v in spec.attributes.items()}
        attributes.setdefault("mail", [row.email])
        attributes[COUNTRY_ATTRIBUTE] = [str(data.get("country", ""))]
        attributes[ORGANISATION_TYPE_ATTRIBUTE] = [str(data.get("organisation_type", ""))]
        password_hash = data.get("password_hash")
        conn.execute(
            insert(A).values(
                uuid=account_uuid,
                login=login,
                source=Source.LOCAL.value,
                profile=spec.profile.value,
                status=Status.ACTIVE.value,
                given_name=given,
                family_name=family,
                personal_email=row.email,
                personal_email_verified_at=now,  # the link proved it
                password_hash=password_hash,
                password_changed_at=now if password_hash else None,
                must_change_password=False,
                attributes=attributes,
                created_at=now,
                modified_at=now,
                search_family=search_key(family),
                search_given=search_key(given),
            )
        )
        if password_hash:
            conn.execute(
                insert(HISTORY).values(
                    account_uuid=account_uuid, password_hash=password_hash, created_at=now
                )
            )
        charter = data.get("charter")
        if isinstance(charter, Mapping) and charter.get("id"):
            conn.execute(
                insert(CHARTERS).values(
                    account_uuid=account_uuid,
                    charter=str(charter["id"]),
                    version=str(charter.get("version", "")),
                    accepted_at=row.created_at,
                )
            )
        conn.execute(
            update(R)
            .where(R.c.id == row.id)
            .values(
                status=status.value,
                login=login,
                account_uuid=account_uuid,
                data=public_data(data),
            )
        )
        return _request(conn.execute(select(R).where(R.c.id == row.id)).one())


def _live(token: str, now: datetime) -> Any:
    return (
        (R.c.token_hash == digest(token))
        & (R.c.status == RegistrationStatus.MAILED.value)
        & (R.c.expires_at > now)
    )


def _decide(request_id: str, status: RegistrationStatus, actor: str, now: datetime) -> Any:
    return (
        update(R)
        .where(
            R.c.id == request_id[:36],
            R.c.status == RegistrationStatus.AWAITING_APPROVAL.value,
        )
        .values(status=status.value, decided_by=actor[:128], decided_at=now)
    )


def _email_in_use(conn: Connection, email: str) -> bool:
    found = conn.execute(
        select(A.c.uuid).where(func.lower(A.c.personal_email) == email.strip().lower()).limit(1)
    ).first()
    return found is not None


def _free_login(conn: Connection, base: str) -> str:
    for candidate in login_candidates(base):
        taken = conn.execute(
            select(A.c.uuid).where(or_(A.c.login == candidate, A.c.alias == candidate)).limit(1)
        ).first()
        if taken is None:
            return candidate
    raise RuntimeError(f"no free login for {base!r}")


__all__ = ["AccountSpec", "Outcome", "SqlRegistrationStore"]
