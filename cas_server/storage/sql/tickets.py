"""Ticket registry on SQL. Single use is one conditional UPDATE … RETURNING."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    Engine,
    Table,
    and_,
    bindparam,
    case,
    delete,
    insert,
    or_,
    select,
    update,
)

from ...protocol.tickets import (
    PROXY_GRANTING_TICKET,
    PROXY_TICKET,
    SERVICE_TICKET,
    TICKET_GRANTING_TICKET,
    ProxyGrantingTicket,
    ServiceTicket,
    SingleLogoutTarget,
    TicketGrantingTicket,
    ticket_digest,
)
from ..codec import dump_authentication, dump_proxies, load_authentication, load_proxies
from .models import TicketRow

T = cast(Table, TicketRow.__table__)
c = T.c
S = T.alias("session")


class SqlTicketRegistry:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Hot-path statements are built once: building one per call costs
        # more than running it.
        now: BindParameter[float] = bindparam("now")
        self._insert = insert(T)
        self._read_session = select(
            c.authentication, c.created_at, c.expires_at, c.idle_timeout, c.last_used_at
        ).where(
            c.id == bindparam("digest"),
            c.kind == TICKET_GRANTING_TICKET,
            c.expires_at > now,
            c.last_used_at + c.idle_timeout > now,
        )
        self._touch = (
            update(T)
            .where(
                c.id == bindparam("digest"),
                c.kind == TICKET_GRANTING_TICKET,
                c.expires_at > now,
                c.last_used_at + c.idle_timeout > now,
            )
            .values(last_used_at=now)
            .returning(c.authentication, c.created_at, c.expires_at, c.idle_timeout, c.last_used_at)
        )
        self._consume = (
            update(T)
            .where(
                c.id == bindparam("digest"),
                c.kind.in_((SERVICE_TICKET, PROXY_TICKET)),
                c.consumed.is_(False),
            )
            # The plain ticket is kept only once used, only for single logout.
            .values(
                consumed=True,
                slo_ticket=case((c.logout_url.is_not(None), bindparam("plain")), else_=None),
            )
            .returning(
                c.tgt_id,
                c.service,
                c.service_id,
                c.authentication,
                c.proxies,
                c.from_new_login,
                c.created_at,
                c.expires_at,
                c.logout_url,
            )
        )

    # --- ticket-granting tickets -------------------------------------------------

    def add_ticket_granting_ticket(self, tgt: TicketGrantingTicket) -> None:
        digest = ticket_digest(tgt.id)
        with self.engine.begin() as conn:
            conn.execute(
                insert(T).values(
                    id=digest,
                    kind=TICKET_GRANTING_TICKET,
                    tgt_id=digest,
                    principal_id=tgt.authentication.principal.id,
                    authentication=dump_authentication(tgt.authentication),
                    created_at=tgt.created_at,
                    expires_at=tgt.expires_at,
                    idle_timeout=tgt.idle_timeout,
                    last_used_at=tgt.last_used_at,
                )
            )

    @staticmethod
    def _alive(now: float) -> Any:
        return and_(
            c.kind == TICKET_GRANTING_TICKET,
            c.expires_at > now,
            c.last_used_at + c.idle_timeout > now,
        )

    @staticmethod
    def _tgt(tgt_id: str, row: Any) -> TicketGrantingTicket:
        return TicketGrantingTicket(
            id=tgt_id,
            authentication=load_authentication(row.authentication),
            created_at=row.created_at,
            expires_at=row.expires_at,
            idle_timeout=row.idle_timeout,
            last_used_at=row.last_used_at,
        )

    def get_ticket_granting_ticket(self, tgt_id: str, now: float) -> TicketGrantingTicket | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                self._read_session, {"digest": ticket_digest(tgt_id), "now": now}
            ).first()
        return None if row is None else self._tgt(tgt_id, row)

    def grant_service_ticket(
        self,
        tgt_id: str,
        now: float,
        build: Callable[[TicketGrantingTicket], ServiceTicket],
    ) -> ServiceTicket | None:
        with self.engine.begin() as conn:
            # The write comes first: it takes the lock, and touches the session.
            row = conn.execute(self._touch, {"digest": ticket_digest(tgt_id), "now": now}).first()
            if row is None:
                return None
            ticket = build(self._tgt(tgt_id, row))
            conn.execute(self._insert, self._service_ticket_values(ticket, row.authentication))
            return ticket

    # --- service and proxy tickets -----------------------------------------------

    @staticmethod
    def _service_ticket_values(
        ticket: ServiceTicket, auth_json: str | None = None
    ) -> dict[str, Any]:
        return {
            "id": ticket_digest(ticket.id),
            "kind": PROXY_TICKET if ticket.is_proxy_ticket else SERVICE_TICKET,
            "tgt_id": _root(ticket.tgt_id),
            "principal_id": ticket.authentication.principal.id,
            "service": ticket.service,
            "service_id": ticket.service_id,
            "authentication": auth_json or dump_authentication(ticket.authentication),
            "proxies": dump_proxies(ticket.proxies),
            "from_new_login": ticket.from_new_login,
            "created_at": ticket.created_at,
            "expires_at": ticket.expires_at,
            "logout_url": ticket.logout_url,
        }

    def add_service_ticket(self, ticket: ServiceTicket) -> None:
        with self.engine.begin() as conn:
            conn.execute(self._insert, self._service_ticket_values(ticket))

    def consume_service_ticket(self, ticket_id: str) -> ServiceTicket | None:
        with self.engine.begin() as conn:
            row = conn.execute(
                self._consume, {"digest": ticket_digest(ticket_id), "plain": ticket_id}
            ).first()
        if row is None:
            return None
        return ServiceTicket(
            id=ticket_id,
            service=row.service,
            service_id=row.service_id,
            tgt_id=row.tgt_id,  # the digest: only ever used as a key
            authentication=load_authentication(row.authentication),
            from_new_login=row.from_new_login,
            created_at=row.created_at,
            expires_at=row.expires_at,
            proxies=load_proxies(row.proxies),
            logout_url=row.logout_url,
        )

    # --- proxy-granting tickets --------------------------------------------------

    def add_proxy_granting_ticket(self, pgt: ProxyGrantingTicket) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(T).values(
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
            )

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

    def _destroy(self, condition: Any) -> list[SingleLogoutTarget]:
        with self.engine.begin() as conn:
            rows = conn.execute(
                delete(T)
                .where(condition)
                .returning(c.service, c.service_id, c.logout_url, c.slo_ticket)
            ).all()
        return [
            SingleLogoutTarget(r.service, r.service_id, r.logout_url, r.slo_ticket)
            for r in rows
            if r.logout_url and r.slo_ticket
        ]

    def destroy_ticket_granting_ticket(self, tgt_id: str) -> list[SingleLogoutTarget]:
        return self._destroy(c.tgt_id == ticket_digest(tgt_id))

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
        return [self._tgt(r.id, r) for r in rows]

    def destroy_sessions_for(self, principal_id: str) -> list[SingleLogoutTarget]:
        with self.engine.connect() as conn:
            roots = select(c.id).where(
                c.principal_id == principal_id, c.kind == TICKET_GRANTING_TICKET
            )
            ids = [r.id for r in conn.execute(roots)]
        if not ids:
            return []
        return self._destroy(c.tgt_id.in_(ids))

    def purge_expired(self, now: float) -> int:
        with self.engine.begin() as conn:
            dead_sessions = select(c.id).where(
                c.kind == TICKET_GRANTING_TICKET,
                or_(c.expires_at <= now, c.last_used_at + c.idle_timeout <= now),
            )
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
        return int(removed)


def _root(tgt_id: str) -> str:
    """Tickets carry their root session either as a plain TGT id or already as its digest."""
    return tgt_id if len(tgt_id) == 64 and "-" not in tgt_id else ticket_digest(tgt_id)
