"""Shadow accounts of directory people (source ``ldap``), created or refreshed at sign-in
or by ``cas-server ldap sync`` (:mod:`cas_server.auth.ldap.sync`)."""

from __future__ import annotations

import logging
import uuid as uuidlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ...accounts.directory import DirectoryPerson, ShadowConflict
from ...accounts.model import Account, Source, Status, normalize_login
from .accounts import SqlAccountRepository
from .models import AccountRow

log = logging.getLogger(__name__)
# Columns with a unique constraint: a clash with another account is logged, not fatal.
UNIQUE_FIELDS = ("student_number", "ine", "personnel_number")
PLAIN_FIELDS = ("personal_email", "mobile")


class Outcome(StrEnum):
    CREATED = "created"
    REFRESHED = "refreshed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class SyncResult:
    uuid: str
    outcome: Outcome
    clashes: tuple[str, ...] = ()  # unique fields held by another account: not copied


@dataclass(frozen=True)
class ShadowRow:
    uuid: str
    login: str
    status: Status


class SqlShadowAccounts:
    def __init__(self, engine: Engine, accounts: SqlAccountRepository) -> None:
        self.engine = engine
        self.accounts = accounts

    def sync(self, person: DirectoryPerson, *, must_change: bool) -> Account:
        """At sign-in: the person holds a working directory password, so a shadow
        created by ``ldap sync`` and still not activated becomes active."""
        uuid = self.apply(person, must_change=must_change, signed_in=True).uuid
        account = self.accounts.get(uuid)
        assert account is not None
        return account

    def apply(
        self,
        person: DirectoryPerson,
        *,
        must_change: bool = False,
        signed_in: bool = False,
        new_status: Status = Status.NOT_ACTIVATED,
        dry_run: bool = False,
    ) -> SyncResult:
        """Create or refresh the shadow of ``person``; raises :class:`ShadowConflict`.

        Without ``signed_in`` (``ldap sync``), a new shadow gets ``new_status``
        and an existing one keeps its status. ``dry_run`` rolls everything back.
        """
        for attempt in range(2):
            try:
                return self._sync(person, must_change, signed_in, new_status, dry_run)
            except IntegrityError:
                if attempt:  # another node created it at the same instant, twice?
                    raise
        raise AssertionError("unreachable")

    def _sync(
        self,
        person: DirectoryPerson,
        must_change: bool,
        signed_in: bool,
        new_status: Status,
        dry_run: bool,
    ) -> SyncResult:
        key = normalize_login(person.login)
        now = datetime.now(UTC)
        with Session(self.engine) as session:
            transaction = session.begin()
            try:
                result = self._write(session, person, key, now, must_change, signed_in, new_status)
            except BaseException:
                transaction.rollback()
                raise
            if dry_run:
                transaction.rollback()
            else:
                transaction.commit()
            return result

    def _write(
        self,
        session: Session,
        person: DirectoryPerson,
        key: str,
        now: datetime,
        must_change: bool,
        signed_in: bool,
        new_status: Status,
    ) -> SyncResult:
        row = session.scalars(select(AccountRow).where(AccountRow.login == key)).first()
        created = row is None
        if row is None:
            if session.scalars(select(AccountRow.uuid).where(AccountRow.alias == key)).first():
                raise ShadowConflict(key)
            row = AccountRow(
                uuid=str(uuidlib.uuid4()),
                login=key,
                source=Source.LDAP.value,
                status=(Status.ACTIVE if signed_in else new_status).value,
                profile=person.profile.value,
                must_change_password=False,
                attributes={},
                created_at=now,
                modified_at=now,
            )
            session.add(row)
        elif row.source != Source.LDAP.value:
            raise ShadowConflict(key)
        values: dict[str, Any] = {
            "external_id": person.dn[:255] or None,
            "profile": person.profile.value,
            "given_name": person.given_name[:255],
            "family_name": person.family_name[:255],
            "attributes": {k: list(v) for k, v in person.attributes.items()},
            # The directory may ask for a change; it never clears ours.
            "must_change_password": bool(row.must_change_password) or must_change,
        }
        if signed_in and row.status == Status.NOT_ACTIVATED.value:
            values["status"] = Status.ACTIVE.value
        if person.birth_date is not None:
            values["birth_date"] = person.birth_date
        for name in PLAIN_FIELDS:
            if person.fields.get(name):
                values[name] = person.fields[name]
        changed = _assign(row, values, now)
        session.flush()
        clashes = []
        for name in UNIQUE_FIELDS:
            value = person.fields.get(name)
            if value and getattr(row, name) != value:
                try:
                    with session.begin_nested():
                        _assign(row, {name: value}, now)
                except IntegrityError:
                    session.refresh(row)
                    clashes.append(name)
                    log.warning("LDAP: %s of %s is another account's: not copied", name, key)
                else:
                    changed = True
        if created:
            outcome = Outcome.CREATED
        else:
            outcome = Outcome.REFRESHED if changed else Outcome.UNCHANGED
        return SyncResult(row.uuid, outcome, tuple(clashes))

    def shadows(self) -> list[ShadowRow]:
        """Every shadow account (source ``ldap``), by login."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(AccountRow.uuid, AccountRow.login, AccountRow.status)
                .where(AccountRow.source == Source.LDAP.value)
                .order_by(AccountRow.login)
            ).all()
        return [ShadowRow(uuid, login, Status(status)) for uuid, login, status in rows]

    def disable(self, uuid: str) -> bool:
        """Disable a shadow account; False if it was disabled already (or is gone)."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(AccountRow)
                .where(
                    (AccountRow.uuid == uuid)
                    & (AccountRow.source == Source.LDAP.value)
                    & (AccountRow.status != Status.DISABLED.value)
                )
                .values(status=Status.DISABLED.value, modified_at=datetime.now(UTC))
            )
        return result.rowcount == 1


def _assign(row: AccountRow, values: dict[str, Any], now: datetime) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    if changed:
        row.modified_at = now
    return changed
