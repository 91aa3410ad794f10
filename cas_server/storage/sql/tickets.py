"""Ticket registry on SQL. Single use is one conditional UPDATE … RETURNING."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine, and_, delete, or_, select

from ...protocol.cas.tickets import (
    PROXY_GRANTING_TICKET,
    PROXY_TICKET,
    SERVICE_TICKET,
    TICKET_GRANTING_TICKET,
    Authentication,
    ProxyGrantingTicket,
    ServiceTicket,
    SingleLogoutTarget,
    TicketGrantingTicket,
    ticket_digest,
    touch_due,
)
from ..codec import dump_authentication, dump_proxies, load_authentication, load_proxies
from .driver import DriverConnection, driver_connection, write_gate
from .sessions import SqlSessionDirectory, client_columns, forget_services, orphan_services
from .ticket_statements import T, TicketStatements
from .ticket_statements import row as _row

c = T.c
S = T.alias("session")
SESSIONS_REMEMBERED = 20_000


class SqlTicketRegistry(SqlSessionDirectory):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._init_sessions(engine)  # the session directory's statements (sessions.py)
        # Sessions this process issued tickets from, by digest: single sign-on
        # then skips reading the session (see grant_service_ticket).
        self._sessions: dict[str, tuple[TicketGrantingTicket, str]] = {}
        # The hot-path statements, compiled once for this engine's dialect
        # and run on the driver (see driver.py).
        self._sql = TicketStatements(engine)

    # --- ticket-granting tickets -------------------------------------------------

    def add_ticket_granting_ticket(self, tgt: TicketGrantingTicket) -> None:
        digest = ticket_digest(tgt.id)
        values = _row(
            id=digest,
            kind=TICKET_GRANTING_TICKET,
            tgt_id=digest,
            principal_id=tgt.authentication.principal.id,
            authentication=dump_authentication(tgt.authentication),
            created_at=tgt.created_at,
            expires_at=tgt.expires_at,
            idle_timeout=tgt.idle_timeout,
            last_used_at=tgt.last_used_at,
            **client_columns(tgt),
        )
        with driver_connection(self.engine) as connection:
            connection.write_one(self._sql.insert, values)

    @staticmethod
    def _alive(now: float) -> Any:
        return and_(
            c.kind == TICKET_GRANTING_TICKET,
            c.expires_at > now,
            c.last_used_at + c.idle_timeout > now,
        )

    @staticmethod
    def _tgt(tgt_id: str, row: Any) -> TicketGrantingTicket:
        """A session from a row of SESSION_COLUMNS."""
        authentication, created_at, expires_at, idle_timeout, last_used_at = row
        return TicketGrantingTicket(
            id=tgt_id,
            authentication=load_authentication(authentication),
            created_at=created_at,
            expires_at=expires_at,
            idle_timeout=idle_timeout,
            last_used_at=last_used_at,
        )

    def get_ticket_granting_ticket(self, tgt_id: str, now: float) -> TicketGrantingTicket | None:
        with driver_connection(self.engine) as connection:
            row = connection.first(
                self._sql.read_session, {"digest": ticket_digest(tgt_id), "now": now}
            )
        return None if row is None else self._tgt(tgt_id, row)

    def grant_service_ticket(
        self,
        tgt_id: str,
        now: float,
        build: Callable[[TicketGrantingTicket], ServiceTicket],
    ) -> ServiceTicket | None:
        digest = ticket_digest(tgt_id)
        with driver_connection(self.engine) as connection:
            known = self._sessions.get(digest)
            ticket = None
            if known is not None:
                # The session as this process last saw it: the insert checks
                # that it is alive and that its authentication is still this one.
                tgt, auth_json = known
                try:
                    ticket = build(tgt)
                except Exception:
                    ticket = None  # perhaps it has ended or changed: decide on fresh data
                if ticket is not None and not self._store_granted(
                    connection, ticket, auth_json, digest, now
                ):
                    ticket = None  # it has ended, or another process stepped it up
            if ticket is None:
                row = connection.first(self._sql.read_session, {"digest": digest, "now": now})
                if row is None:
                    self._sessions.pop(digest, None)
                    return None
                tgt, auth_json = self._tgt(tgt_id, row), row[0]
                # Built before writing: SQLite has one writer at a time, and
                # the write is then a single statement.
                ticket = build(tgt)
                if not self._store_granted(connection, ticket, auth_json, digest, now):
                    self._sessions.pop(digest, None)
                    return None  # the session ended meanwhile
            if touch_due(tgt, now):
                connection.write_one(self._sql.touch, {"digest": digest, "now": now})
                tgt = replace(tgt, last_used_at=now)
            self._remember(digest, tgt, auth_json)
            self._record_granted(connection, digest, ticket)  # once per (session, service)
        return ticket

    def _store_granted(
        self,
        connection: DriverConnection,
        ticket: ServiceTicket,
        auth_json: str,
        digest: str,
        now: float,
    ) -> bool:
        values = self._service_ticket_values(ticket, auth_json)
        values.update(digest=digest, now=now)
        stored, _ = connection.write_one(self._sql.insert_if_current, values)
        return stored == 1

    def replace_authentication(
        self, tgt_id: str, authentication: Authentication, now: float
    ) -> TicketGrantingTicket | None:
        digest = ticket_digest(tgt_id)
        values = {
            "digest": digest,
            "now": now,
            "principal": authentication.principal.id,
            "auth": dump_authentication(authentication),
        }
        with driver_connection(self.engine) as connection:
            _, row = connection.write_one(self._sql.replace_authentication, values)
        if row is None:
            self._sessions.pop(digest, None)
            return None
        tgt = self._tgt(tgt_id, row)
        if digest in self._sessions:
            self._remember(digest, tgt, row[0])
        return tgt

    def _remember(self, digest: str, tgt: TicketGrantingTicket, auth_json: str) -> None:
        if len(self._sessions) >= SESSIONS_REMEMBERED:
            self._sessions.clear()  # crude, and rare: a cache miss is one read
        self._sessions[digest] = (tgt, auth_json)

    # --- service and proxy tickets -----------------------------------------------

    @staticmethod
    def _service_ticket_values(
        ticket: ServiceTicket, auth_json: str | None = None
    ) -> dict[str, Any]:
        return _row(
            id=ticket_digest(ticket.id),
            kind=PROXY_TICKET if ticket.is_proxy_ticket else SERVICE_TICKET,
            tgt_id=_root(ticket.tgt_id),
            principal_id=ticket.authentication.principal.id,
            service=ticket.service,
            service_id=ticket.service_id,
            authentication=auth_json or dump_authentication(ticket.authentication),
            proxies=dump_proxies(ticket.proxies),
            from_new_login=ticket.from_new_login,
            created_at=ticket.created_at,
            expires_at=ticket.expires_at,
            logout_url=ticket.logout_url,
        )

    def _insert_child(
        self, values: dict[str, Any], now: float, ticket: ServiceTicket | None = None
    ) -> None:
        """A proxy or service ticket, or a PGT, stored only if its session is alive at ``now``.

        One ``INSERT … SELECT … WHERE EXISTS`` (the statement single sign-on
        uses): a logout or expiry between the caller's read of the PGT or
        the callback and this write wins, and nothing outlives its session.
        """
        values.update(digest=values["tgt_id"], now=now)
        with driver_connection(self.engine) as connection:
            stored, _ = connection.write_one(self._sql.insert_if_alive, values)
            if ticket is not None and stored == 1:
                self._record_granted(connection, values["tgt_id"], ticket)

    def add_service_ticket(self, ticket: ServiceTicket) -> None:
        self._insert_child(self._service_ticket_values(ticket), ticket.created_at, ticket)

    def consume_service_ticket(self, ticket_id: str) -> ServiceTicket | None:
        with driver_connection(self.engine) as connection:
            _, row = connection.write_one(
                self._sql.consume, {"digest": ticket_digest(ticket_id), "plain": ticket_id}
            )
        if row is None:
            return None
        (tgt_id, service, service_id, authentication, proxies) = row[:5]
        from_new_login, created_at, expires_at, logout_url = row[5:]
        return ServiceTicket(
            id=ticket_id,
            service=service,
            service_id=service_id,
            tgt_id=tgt_id,  # the digest: only ever used as a key
            authentication=load_authentication(authentication),
            from_new_login=bool(from_new_login),  # 0/1 on SQLite
            created_at=created_at,
            expires_at=expires_at,
            proxies=load_proxies(proxies),
            logout_url=logout_url,
        )

    # --- proxy-granting tickets --------------------------------------------------

    def add_proxy_granting_ticket(self, pgt: ProxyGrantingTicket) -> None:
        values = _row(
            id=ticket_digest(pgt.id),
            kind=PROXY_GRANTING_TICKET,
            tgt_id=_root(pgt.tgt_id),
            principal_id=pgt.authentication.principal.id,
            service_id=pgt.service_id,
            authentication=dump_authentication(pgt.authentication),
            proxies=dump_proxies(pgt.proxies),
            created_at=pgt.created_at,
            expires_at=pgt.expires_at,
        )
        self._insert_child(values, pgt.created_at)

    def get_proxy_granting_ticket(self, pgt_id: str, now: float) -> ProxyGrantingTicket | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    c.tgt_id,
                    c.service_id,
                    c.authentication,
                    c.proxies,
                    c.created_at,
                    c.expires_at,
                ).where(
                    c.id == ticket_digest(pgt_id),
                    c.kind == PROXY_GRANTING_TICKET,
                    c.expires_at > now,
                    # A PGT dies with its SSO session (3.3.1).
                    c.tgt_id.in_(
                        select(S.c.id).where(
                            S.c.kind == TICKET_GRANTING_TICKET,
                            S.c.expires_at > now,
                            S.c.last_used_at + S.c.idle_timeout > now,
                        )
                    ),
                )
            ).first()
        if row is None:
            return None
        return ProxyGrantingTicket(
            id=pgt_id,
            tgt_id=row.tgt_id,
            service_id=row.service_id,
            authentication=load_authentication(row.authentication),
            proxies=load_proxies(row.proxies),
            created_at=row.created_at,
            expires_at=row.expires_at,
        )

    # --- logout and housekeeping -------------------------------------------------

    def _destroy(self, roots: Any) -> list[SingleLogoutTarget]:
        """Every ticket of the sessions whose digests are ``roots`` (a list), and their services."""
        with write_gate(self.engine), self.engine.begin() as conn:
            rows = conn.execute(
                delete(T)
                .where(c.tgt_id.in_(roots))
                .returning(c.service, c.service_id, c.logout_url, c.slo_ticket)
            ).all()
            forget_services(conn, roots)
        return [
            SingleLogoutTarget(r.service, r.service_id, r.logout_url, r.slo_ticket)
            for r in rows
            if r.logout_url and r.slo_ticket
        ]

    def destroy_ticket_granting_ticket(self, tgt_id: str) -> list[SingleLogoutTarget]:
        return self._destroy([ticket_digest(tgt_id)])

    def sessions_for(self, principal_id: str, now: float) -> list[TicketGrantingTicket]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    c.id,
                    c.authentication,
                    c.created_at,
                    c.expires_at,
                    c.idle_timeout,
                    c.last_used_at,
                ).where(c.principal_id == principal_id, self._alive(now))
            ).all()
        # The store does not know the plain ids; sessions are listed by digest.
        return [self._tgt(r.id, tuple(r)[1:]) for r in rows]

    def destroy_sessions_for(self, principal_id: str) -> list[SingleLogoutTarget]:
        with self.engine.connect() as conn:
            roots = select(c.id).where(
                c.principal_id == principal_id, c.kind == TICKET_GRANTING_TICKET
            )
            ids = [r.id for r in conn.execute(roots)]
        if not ids:
            return []
        return self._destroy(ids)

    def purge_expired(self, now: float) -> int:
        with write_gate(self.engine), self.engine.begin() as conn:
            dead_sessions = select(c.id).where(
                c.kind == TICKET_GRANTING_TICKET,
                or_(c.expires_at <= now, c.last_used_at + c.idle_timeout <= now),
            )
            forget_services(conn, dead_sessions)
            removed = conn.execute(delete(T).where(c.tgt_id.in_(dead_sessions))).rowcount
            # Used or expired service tickets of live sessions, unless single
            # logout still needs them; expired proxy-granting tickets.
            removed += conn.execute(
                delete(T).where(
                    c.expires_at <= now,
                    or_(
                        c.kind == PROXY_GRANTING_TICKET,
                        and_(c.kind.in_((SERVICE_TICKET, PROXY_TICKET)), c.slo_ticket.is_(None)),
                    ),
                )
            ).rowcount
            # Services of sessions ended by a node that does not record them (rolling upgrade).
            orphan_services(conn)
        return int(removed)


def _root(tgt_id: str) -> str:
    """Tickets carry their root session either as a plain TGT id or already as its digest."""
    return tgt_id if len(tgt_id) == 64 and "-" not in tgt_id else ticket_digest(tgt_id)
