"""The session directory on SQL (#15): live sessions by owner, address, network, service.

A session is its TGT row in ``tickets`` (with the client's columns) and the
rows of ``session_services``, one per service it gave a ticket to. Every
search starts from an index: ``principal_id``, ``client_ip``,
``client_network``, ``session_services.service_id`` or ``(kind, created_at)``.

:class:`SqlSessionDirectory` is a base of :class:`~.tickets.SqlTicketRegistry`:
the same engine and the same rows.
"""

from __future__ import annotations

import time
from typing import Any, cast

from sqlalchemy import Engine, Table, and_, bindparam, delete, exists, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.expression import ColumnElement

from ...protocol.cas.ports import SessionQuery, SessionRecord, SessionService
from ...protocol.cas.tickets import (
    TICKET_GRANTING_TICKET,
    USER_AGENT_MAX,
    ServiceTicket,
    SessionClient,
    SingleLogoutTarget,
    TicketGrantingTicket,
)
from ..codec import load_authentication
from ..recorded import RecordedServices
from .driver import DriverConnection, DriverStatement, write_gate
from .models import SessionServiceRow
from .ticket_statements import T

c = T.c
SS = cast(Table, SessionServiceRow.__table__)
sc = SS.c
MAX_LIMIT = 10_000  # a search (ending every session from an address)
PER_PERSON = 1000  # sessions_of
# The predicate of the partial indexes (models.SESSIONS_ONLY), as a literal: a bound
# value would not let the database use them.
IS_SESSION = text(f"tickets.kind = '{TICKET_GRANTING_TICKET}'")


def client_columns(tgt: TicketGrantingTicket) -> dict[str, Any]:
    """The ``tickets`` columns of a session's client (all None without one)."""
    client = tgt.client
    if client is None:
        return {"client_ip": None, "client_network": None, "user_agent": None, "public": None}
    agent = client.user_agent[:USER_AGENT_MAX] if client.user_agent else None
    return {
        "client_ip": client.ip,
        "client_network": client.network,
        "user_agent": agent,
        "public": client.public,
    }


def _client(row: Any) -> SessionClient | None:
    ip, network, agent, public = row
    if ip is None and network is None and agent is None and public is None:
        return None
    return SessionClient(ip, agent, network, None if public is None else bool(public))


def _record_statement(engine: Engine) -> DriverStatement:
    """``INSERT … SELECT … WHERE EXISTS (the live session) ON CONFLICT DO NOTHING``:
    one statement, so a logout in between wins (no row outlives its session)
    and a pair another node recorded first is left as it is."""
    now = bindparam("now", type_=c.expires_at.type)
    digest = bindparam("digest", type_=sc.tgt_id.type)
    alive = exists().where(
        c.id == digest,
        IS_SESSION,
        c.expires_at > now,
        c.last_used_at + c.idle_timeout > now,
    )
    values = select(
        digest,
        bindparam("service_id", type_=sc.service_id.type),
        bindparam("service", type_=sc.service.type),
        now,
    ).where(alive)
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(SS)
        .from_select(["tgt_id", "service_id", "service", "first_at"], values)
        .on_conflict_do_nothing(index_elements=["tgt_id", "service_id"])
    )
    return DriverStatement(engine, statement)


class SqlSessionDirectory:
    """Implements :class:`~cas_server.protocol.cas.ports.SessionDirectory` on the ticket table."""

    engine: Engine

    def _init_sessions(self, engine: Engine) -> None:
        self._recorded = RecordedServices()
        self._record_service = _record_statement(engine)

    # --- recording (called by the registry when it stores a service ticket) ---------

    def _record_granted(
        self, connection: DriverConnection, digest: str, ticket: ServiceTicket
    ) -> None:
        pair = (digest, ticket.service_id)
        if pair in self._recorded:
            return
        connection.write_one(
            self._record_service,
            {
                "digest": digest,
                "service_id": ticket.service_id,
                "service": ticket.service,
                "now": ticket.created_at,
            },
        )
        self._recorded.add(pair)

    # --- reading ---------------------------------------------------------------------

    @staticmethod
    def _live(now: float) -> ColumnElement[bool]:
        return and_(
            IS_SESSION,  # written out, so that the partial indexes apply
            c.expires_at > now,
            c.last_used_at + c.idle_timeout > now,
        )

    def _records(self, condition: Any, now: float, limit: int) -> list[SessionRecord]:
        columns = (
            c.id,
            c.principal_id,
            c.authentication,
            c.created_at,
            c.expires_at,
            c.idle_timeout,
            c.last_used_at,
            c.client_ip,
            c.client_network,
            c.user_agent,
            c.public,
        )
        query = (
            select(*columns)
            .where(self._live(now), condition)
            .order_by(c.created_at.desc(), c.id.desc())
            .limit(max(0, min(limit, MAX_LIMIT)))
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            handles = [r.id for r in rows]
            services: dict[str, list[SessionService]] = {h: [] for h in handles}
            if handles:
                for s in conn.execute(
                    select(sc.tgt_id, sc.service_id, sc.service, sc.first_at)
                    .where(sc.tgt_id.in_(handles))
                    .order_by(sc.first_at, sc.service_id)
                ):
                    services[s.tgt_id].append(SessionService(s.service_id, s.service, s.first_at))
        records = []
        for r in rows:
            auth = load_authentication(r.authentication)
            records.append(
                SessionRecord(
                    handle=r.id,
                    principal_id=r.principal_id,
                    client=_client((r.client_ip, r.client_network, r.user_agent, r.public)),
                    created_at=r.created_at,
                    last_used_at=r.last_used_at,
                    expires_at=min(r.expires_at, r.last_used_at + r.idle_timeout),
                    long_term=auth.long_term,
                    surrogate=auth.surrogate,
                    services=tuple(services[r.id]),
                )
            )
        return records

    def sessions_of(self, principal_id: str, now: float) -> list[SessionRecord]:
        return self._records(c.principal_id == principal_id, now, PER_PERSON)

    def session(self, handle: str, now: float) -> SessionRecord | None:
        found = self._records(c.id == handle, now, 1)
        return found[0] if found else None

    def search(self, query: SessionQuery, now: float) -> list[SessionRecord]:
        conditions: list[Any] = []
        if query.principal_id is not None:
            conditions.append(c.principal_id == query.principal_id)
        if query.ip is not None:
            conditions.append(c.client_ip == query.ip)
        if query.network is not None:
            conditions.append(c.client_network == query.network)
        if query.service_id is not None:
            conditions.append(c.id.in_(select(sc.tgt_id).where(sc.service_id == query.service_id)))
        if query.started_after is not None:
            conditions.append(c.created_at > query.started_after)
        if query.started_before is not None:
            conditions.append(c.created_at < query.started_before)
        return self._records(and_(True, *conditions), now, query.limit)

    # --- ending ----------------------------------------------------------------------

    def destroy_session(
        self, handle: str, principal_id: str | None = None
    ) -> list[SingleLogoutTarget] | None:
        now = time.time()
        owner = [] if principal_id is None else [c.principal_id == principal_id]
        with write_gate(self.engine), self.engine.begin() as conn:
            # The session row first, conditionally: only one caller ends it, and
            # another principal's handle changes nothing.
            gone = conn.execute(
                delete(T).where(c.id == handle, self._live(now), *owner).returning(c.id)
            ).first()
            if gone is None:
                return None
            rows = conn.execute(
                delete(T)
                .where(c.tgt_id == handle)
                .returning(c.service, c.service_id, c.logout_url, c.slo_ticket)
            ).all()
            conn.execute(delete(SS).where(sc.tgt_id == handle))
        return [
            SingleLogoutTarget(r.service, r.service_id, r.logout_url, r.slo_ticket)
            for r in rows
            if r.logout_url and r.slo_ticket
        ]


def forget_services(conn: Any, roots: Any) -> int:
    """Delete the ``session_services`` rows of the sessions named by ``roots`` (ids or a select)."""
    return int(conn.execute(delete(SS).where(sc.tgt_id.in_(roots))).rowcount)


def orphan_services(conn: Any) -> int:
    """Delete rows whose session has gone (ended by a node of the previous release, a race)."""
    sessions = select(T.c.id).where(T.c.kind == TICKET_GRANTING_TICKET)
    return int(conn.execute(delete(SS).where(sc.tgt_id.not_in(sessions))).rowcount)
