"""Shadow accounts of directory people (source ``ldap``), created or refreshed at sign-in."""

from __future__ import annotations

import logging
import uuid as uuidlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
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


class SqlShadowAccounts:
    def __init__(self, engine: Engine, accounts: SqlAccountRepository) -> None:
        self.engine = engine
        self.accounts = accounts

    def sync(self, person: DirectoryPerson, *, must_change: bool) -> Account:
        for attempt in range(2):
            try:
                uuid = self._sync(person, must_change)
                break
            except IntegrityError:
                if attempt:  # another node created it at the same instant, twice?
                    raise
        account = self.accounts.get(uuid)
        assert account is not None
        return account

    def _sync(self, person: DirectoryPerson, must_change: bool) -> str:
        key = normalize_login(person.login)
        now = datetime.now(UTC)
        with Session(self.engine) as session, session.begin():
            row = session.scalars(select(AccountRow).where(AccountRow.login == key)).first()
            if row is None:
                if session.scalars(select(AccountRow.uuid).where(AccountRow.alias == key)).first():
                    raise ShadowConflict(key)
                row = AccountRow(
                    uuid=str(uuidlib.uuid4()),
                    login=key,
                    source=Source.LDAP.value,
                    status=Status.ACTIVE.value,
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
            if person.birth_date is not None:
                values["birth_date"] = person.birth_date
            for name in PLAIN_FIELDS:
                if person.fields.get(name):
                    values[name] = person.fields[name]
            _assign(row, values, now)
            session.flush()
            for name in UNIQUE_FIELDS:
                value = person.fields.get(name)
                if value and getattr(row, name) != value:
                    try:
                        with session.begin_nested():
                            _assign(row, {name: value}, now)
                    except IntegrityError:
                        session.refresh(row)
                        log.warning("LDAP: %s of %s is another account's: not copied", name, key)
            return row.uuid


def _assign(row: AccountRow, values: dict[str, Any], now: datetime) -> None:
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    if changed:
        row.modified_at = now
