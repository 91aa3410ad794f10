"""In-memory ticket registry for unit tests and single-process tools.

Same promises as the SQL and Redis adapters (the contract tests run against
all of them); a lock stands in for the store's atomicity.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

from ..protocol.cas.tickets import (
    Authentication,
    ProxyGrantingTicket,
    ServiceTicket,
    SingleLogoutTarget,
    TicketGrantingTicket,
    ticket_digest,
)


def _root(tgt_id: str) -> str:
    return tgt_id if len(tgt_id) == 64 and "-" not in tgt_id else ticket_digest(tgt_id)


class MemoryTicketRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tgts: dict[str, TicketGrantingTicket] = {}
        self._sts: dict[str, ServiceTicket] = {}
        self._consumed: set[str] = set()
        self._pgts: dict[str, ProxyGrantingTicket] = {}

    def add_ticket_granting_ticket(self, tgt: TicketGrantingTicket) -> None:
        with self._lock:
            self._tgts[ticket_digest(tgt.id)] = tgt

    def get_ticket_granting_ticket(self, tgt_id: str, now: float) -> TicketGrantingTicket | None:
        tgt = self._tgts.get(ticket_digest(tgt_id))
        return None if tgt is None or tgt.is_expired(now) else tgt

    def grant_service_ticket(
        self,
        tgt_id: str,
        now: float,
        build: Callable[[TicketGrantingTicket], ServiceTicket],
    ) -> ServiceTicket | None:
        key = ticket_digest(tgt_id)
        with self._lock:
            tgt = self._tgts.get(key)
            if tgt is None or tgt.is_expired(now):
                return None
            ticket = build(tgt)
            self._tgts[key] = replace(tgt, last_used_at=now)
            self._sts[ticket.id] = ticket
            return ticket

    def replace_authentication(
        self, tgt_id: str, authentication: Authentication, now: float
    ) -> TicketGrantingTicket | None:
        key = ticket_digest(tgt_id)
        with self._lock:
            tgt = self._tgts.get(key)
            if tgt is None or tgt.is_expired(now):
                return None
            if tgt.authentication.principal.id != authentication.principal.id:
                return None
            updated = self._tgts[key] = replace(tgt, authentication=authentication)
            return updated

    def _alive(self, tgt_id: str, now: float) -> bool:
        session = self._tgts.get(_root(tgt_id))
        return session is not None and not session.is_expired(now)

    def add_service_ticket(self, ticket: ServiceTicket) -> None:
        # Stored only if its session is alive, checked under the same lock: a
        # logout in between wins (as in grant_service_ticket).
        with self._lock:
            if self._alive(ticket.tgt_id, ticket.created_at):
                self._sts[ticket.id] = ticket

    def consume_service_ticket(self, ticket_id: str) -> ServiceTicket | None:
        with self._lock:
            if ticket_id in self._consumed or ticket_id not in self._sts:
                return None
            self._consumed.add(ticket_id)
            return self._sts[ticket_id]

    def add_proxy_granting_ticket(self, pgt: ProxyGrantingTicket) -> None:
        with self._lock:
            if self._alive(pgt.tgt_id, pgt.created_at):
                self._pgts[pgt.id] = pgt

    def get_proxy_granting_ticket(self, pgt_id: str, now: float) -> ProxyGrantingTicket | None:
        pgt = self._pgts.get(pgt_id)
        if pgt is None or pgt.is_expired(now):
            return None
        session = self._tgts.get(_root(pgt.tgt_id))
        return None if session is None or session.is_expired(now) else pgt

    def _destroy_roots(self, roots: set[str]) -> list[SingleLogoutTarget]:
        targets = []
        for st_id, st in list(self._sts.items()):
            if _root(st.tgt_id) in roots:
                del self._sts[st_id]
                if st.logout_url and st_id in self._consumed:
                    targets.append(
                        SingleLogoutTarget(st.service, st.service_id, st.logout_url, st_id)
                    )
                self._consumed.discard(st_id)
        for pgt_id, pgt in list(self._pgts.items()):
            if _root(pgt.tgt_id) in roots:
                del self._pgts[pgt_id]
        for root in roots:
            self._tgts.pop(root, None)
        return targets

    def destroy_ticket_granting_ticket(self, tgt_id: str) -> list[SingleLogoutTarget]:
        with self._lock:
            return self._destroy_roots({ticket_digest(tgt_id)})

    def sessions_for(self, principal_id: str, now: float) -> list[TicketGrantingTicket]:
        return [
            t
            for t in list(self._tgts.values())
            if t.authentication.principal.id == principal_id and not t.is_expired(now)
        ]

    def destroy_sessions_for(self, principal_id: str) -> list[SingleLogoutTarget]:
        with self._lock:
            roots = {
                key
                for key, t in self._tgts.items()
                if t.authentication.principal.id == principal_id
            }
            return self._destroy_roots(roots)

    def purge_expired(self, now: float) -> int:
        with self._lock:
            dead = {k for k, t in self._tgts.items() if t.is_expired(now)}
            before = len(self._tgts) + len(self._sts) + len(self._pgts)
            self._destroy_roots(dead)
            for st_id, st in list(self._sts.items()):
                if st.is_expired(now) and not (st.logout_url and st_id in self._consumed):
                    del self._sts[st_id]
                    self._consumed.discard(st_id)
            for pgt_id, pgt in list(self._pgts.items()):
                if pgt.is_expired(now):
                    del self._pgts[pgt_id]
            return before - (len(self._tgts) + len(self._sts) + len(self._pgts))
