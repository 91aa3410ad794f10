"""SAML session participants and attribute release consents on SQL (#18, migration 0010).

``saml_participants``: one row per assertion given in an SSO session, so that a
logout tells each SP (single logout, SAML core 3.7), found by the session's
handle (``ticket_digest(tgt.id)``), purged after the session's hard limit.
``saml_consents``: what a person accepted to release to an SP (names, never
values), one row per (account, SP), gone with the account.

Driver errors (the database down, a connection lost) come out as
:class:`~cas_server.protocol.cas.ports.StoreUnavailable`, the reads and the
idempotent writes retried once on a dropped connection first (``retry_once``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from sqlalchemy import (
    Double,
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    delete,
    exists,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Mapped, mapped_column

from ...protocol.cas.ports import StoreUnavailable
from ...protocol.saml2.ports import Consent, SamlParticipant
from .base import Base
from .driver import DriverStatement, driver_connection, write_gate
from .retry import retry_once

log = logging.getLogger(__name__)
R = TypeVar("R")
MAX_ENTITY_ID = 1024
MAX_NAME_ID = 1024
MAX_PARTICIPANTS = 500  # per session: an SP cannot make a logout fan out without end


class SamlParticipantRow(Base):
    """An SP that received an assertion in an SSO session (whom single logout tells)."""

    __tablename__ = "saml_participants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_handle: Mapped[str] = mapped_column(String(64), index=True)
    sp_entity_id: Mapped[str] = mapped_column(String(MAX_ENTITY_ID))
    name_id: Mapped[str] = mapped_column(String(MAX_NAME_ID))
    name_id_format: Mapped[str] = mapped_column(String(256))
    session_index: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[float] = mapped_column(Double)
    expires_at: Mapped[float] = mapped_column(Double, index=True)


class SamlConsentRow(Base):
    """The attributes a person accepted to release to one SP (names only)."""

    __tablename__ = "saml_consents"

    account_uuid: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.uuid", ondelete="CASCADE"), primary_key=True
    )
    sp_entity_id: Mapped[str] = mapped_column(String(MAX_ENTITY_ID), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    attributes: Mapped[str] = mapped_column(Text)  # a JSON list of friendly names
    given_at: Mapped[float] = mapped_column(Double)

    __table_args__ = (Index("ix_saml_consents_account_given", "account_uuid", "given_at"),)


P = cast(Table, SamlParticipantRow.__table__)
C = cast(Table, SamlConsentRow.__table__)
_RECORD_COLUMNS = (
    "session_handle",
    "sp_entity_id",
    "name_id",
    "name_id_format",
    "session_index",
    "created_at",
    "expires_at",
)


def _lost(error: BaseException) -> bool:
    """A database that cannot be reached (not a constraint or a bug in a statement)."""
    if isinstance(error, PoolTimeout):
        return True
    return isinstance(error, DBAPIError) and (
        error.connection_invalidated or type(error.orig).__name__ in _UNAVAILABLE
    )


# DB-API exception classes meaning "the database is not there" (PEP 249 names).
_UNAVAILABLE = {"OperationalError", "InterfaceError"}


@contextmanager
def _guard(what: str) -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        if not _lost(exc):
            raise
        log.error("database unavailable during %s: %s", what, exc.__class__.__name__)
        raise StoreUnavailable(f"database: {what}") from exc


def _guarded(what: str, call: Callable[[], R], *, retry: bool) -> R:
    with _guard(what):
        return retry_once(what, call) if retry else call()


def _participant(row: Any) -> SamlParticipant:
    return SamlParticipant(
        session_handle=row.session_handle,
        sp_entity_id=row.sp_entity_id,
        name_id=row.name_id,
        name_id_format=row.name_id_format,
        session_index=row.session_index,
        created_at=float(row.created_at),
    )


def _record_statement(engine: Engine) -> DriverStatement:
    """One statement, compiled once (every SAML single sign-on runs it, see driver.py):
    the participant, unless the same SP in the same session with the same NameID and
    session index is there already (a second row would tell it twice)."""
    typed = {name: bindparam(name, type_=P.c[name].type) for name in _RECORD_COLUMNS}
    same = exists().where(
        P.c.session_handle == typed["session_handle"],
        P.c.sp_entity_id == typed["sp_entity_id"],
        P.c.name_id == typed["name_id"],
        P.c.session_index == typed["session_index"],
    )
    return DriverStatement(
        engine,
        insert(P).from_select(_RECORD_COLUMNS, select(*typed.values()).where(~same)),
    )


class SqlSamlSessionStore:
    """:class:`~cas_server.protocol.saml2.ports.SamlSessionStore` on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._record = _record_statement(engine)

    def record(self, p: SamlParticipant, expires_at: float) -> None:
        if len(p.sp_entity_id) > MAX_ENTITY_ID or len(p.name_id) > MAX_NAME_ID:
            raise ValueError("entity id or NameID too long to record")
        values = {
            "session_handle": p.session_handle,
            "sp_entity_id": p.sp_entity_id,
            "name_id": p.name_id,
            "name_id_format": p.name_id_format,
            "session_index": p.session_index,
            "created_at": p.created_at,
            "expires_at": expires_at,
        }

        def run() -> None:
            with driver_connection(self.engine) as connection:
                connection.write_one(self._record, values)

        # Safe to run twice: the second run finds the first's row and adds nothing.
        _guarded("saml participant record", run, retry=True)

    def participants(self, session_handle: str) -> list[SamlParticipant]:
        def run() -> list[SamlParticipant]:
            with self.engine.connect() as c:
                rows = c.execute(
                    select(P)
                    .where(P.c.session_handle == session_handle)
                    .order_by(P.c.created_at, P.c.id)
                    .limit(MAX_PARTICIPANTS)
                ).all()
            return [_participant(r) for r in rows]

        return _guarded("saml participants", run, retry=True)

    def forget(self, session_handle: str) -> int:
        def run() -> int:
            with write_gate(self.engine), self.engine.begin() as c:
                result = c.execute(delete(P).where(P.c.session_handle == session_handle))
            return int(result.rowcount or 0)

        return _guarded("saml participants forget", run, retry=True)

    def purge(self, now: float) -> int:
        def run() -> int:
            with write_gate(self.engine), self.engine.begin() as c:
                result = c.execute(delete(P).where(P.c.expires_at <= now))
            return int(result.rowcount or 0)

        return _guarded("saml participants purge", run, retry=True)


def _consent(row: Any) -> Consent:
    try:
        names = json.loads(row.attributes)
    except ValueError:
        names = []
    if not isinstance(names, list):
        names = []
    return Consent(
        sp_entity_id=row.sp_entity_id,
        digest=row.digest,
        attributes=tuple(str(n) for n in names),
        given_at=float(row.given_at),
    )


class SqlConsentStore:
    """:class:`~cas_server.protocol.saml2.ports.ConsentStore` on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _insert(self) -> Any:
        return (postgresql if self.engine.dialect.name == "postgresql" else sqlite).insert(C)

    def get(self, account_uuid: str, sp_entity_id: str) -> Consent | None:
        def run() -> Consent | None:
            with self.engine.connect() as c:
                row = c.execute(
                    select(C).where(
                        (C.c.account_uuid == account_uuid) & (C.c.sp_entity_id == sp_entity_id)
                    )
                ).first()
            return _consent(row) if row is not None else None

        return _guarded("saml consent", run, retry=True)

    def remember(self, account_uuid: str, consent: Consent) -> None:
        if len(consent.sp_entity_id) > MAX_ENTITY_ID:
            raise ValueError("entity id too long")
        values = {
            "account_uuid": account_uuid,
            "sp_entity_id": consent.sp_entity_id,
            "digest": consent.digest,
            "attributes": json.dumps(list(consent.attributes)),
            "given_at": consent.given_at,
        }

        def run() -> None:
            statement = self._insert().values(**values)
            statement = statement.on_conflict_do_update(
                index_elements=[C.c.account_uuid, C.c.sp_entity_id],
                set_={
                    "digest": statement.excluded.digest,
                    "attributes": statement.excluded.attributes,
                    "given_at": statement.excluded.given_at,
                },
            )
            with write_gate(self.engine), self.engine.begin() as c:
                c.execute(statement)

        _guarded("saml consent remember", run, retry=True)  # an upsert: same end state

    def revoke(self, account_uuid: str, sp_entity_id: str) -> bool:
        def run() -> bool:
            with write_gate(self.engine), self.engine.begin() as c:
                result = c.execute(
                    delete(C).where(
                        (C.c.account_uuid == account_uuid) & (C.c.sp_entity_id == sp_entity_id)
                    )
                )
            return bool(result.rowcount)

        return _guarded("saml consent revoke", run, retry=False)

    def list_for(self, account_uuid: str) -> list[Consent]:
        def run() -> list[Consent]:
            with self.engine.connect() as c:
                rows = c.execute(
                    select(C)
                    .where(C.c.account_uuid == account_uuid)
                    .order_by(C.c.given_at.desc(), C.c.sp_entity_id)
                ).all()
            return [_consent(r) for r in rows]

        return _guarded("saml consents", run, retry=True)
