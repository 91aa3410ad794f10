"""In-memory ticket registry for unit tests and single-process tools.

Same promises as the SQL and Redis adapters (the contract tests run against
all of them); a lock stands in for the store's atomicity.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

from ..protocol.cas.ports import SessionQuery, SessionRecord, SessionService
from ..protocol.cas.tickets import (
    USER_AGENT_MAX,
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
        # The services each session gave a ticket to, by root digest then service id.
        self._services: dict[str, dict[str, SessionService]] = {}

    def add_ticket_granting_ticket(self, tgt: TicketGrantingTicket) -> None:
        agent = tgt.client.user_agent if tgt.client else None
        if tgt.client and agent and len(agent) > USER_AGENT_MAX:
            tgt = replace(tgt, client=replace(tgt.client, user_agent=agent[:USER_AGENT_MAX]))
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
            self._record_service(key, ticket)
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
                self._record_service(_root(ticket.tgt_id), ticket)

    def _record_service(self, root: str, ticket: ServiceTicket) -> None:
        services = self._services.setdefault(root, {})
        if ticket.service_id not in services:
            services[ticket.service_id] = SessionService(
                ticket.service_id, ticket.service, ticket.created_at
            )

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
            self._services.pop(root, None)
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

    # --- the session directory (#15) -----------------------------------------------

    def _record(self, handle: str, tgt: TicketGrantingTicket) -> SessionRecord:
        services = self._services.get(handle, {})
        return SessionRecord(
            handle=handle,
            principal_id=tgt.authentication.principal.id,
            client=tgt.client,
            created_at=tgt.created_at,
            last_used_at=tgt.last_used_at,
            expires_at=min(tgt.expires_at, tgt.last_used_at + tgt.idle_timeout),
            long_term=tgt.authentication.long_term,
            surrogate=tgt.authentication.surrogate,
            services=tuple(sorted(services.values(), key=lambda s: (s.first_at, s.service_id))),
        )

    def _matching(self, query: SessionQuery, now: float) -> list[SessionRecord]:
        with self._lock:
            found = []
            for handle, tgt in self._tgts.items():
                if not tgt.is_expired(now) and _matches(query, tgt, self._services.get(handle)):
                    found.append(self._record(handle, tgt))
        found.sort(key=lambda r: (r.created_at, r.handle), reverse=True)
        return found[: max(query.limit, 0)]

    def sessions_of(self, principal_id: str, now: float) -> list[SessionRecord]:
        return self._matching(SessionQuery(principal_id=principal_id, limit=1 << 30), now)

    def session(self, handle: str, now: float) -> SessionRecord | None:
        with self._lock:
            tgt = self._tgts.get(handle)
            if tgt is None or tgt.is_expired(now):
                return None
            return self._record(handle, tgt)

    def search(self, query: SessionQuery, now: float) -> list[SessionRecord]:
        return self._matching(query, now)

    def destroy_session(
        self, handle: str, principal_id: str | None = None
    ) -> list[SingleLogoutTarget] | None:
        with self._lock:
            tgt = self._tgts.get(handle)
            if tgt is None or tgt.is_expired(time.time()):
                return None
            if principal_id is not None and tgt.authentication.principal.id != principal_id:
                return None
            return self._destroy_roots({handle})


def _matches(
    query: SessionQuery, tgt: TicketGrantingTicket, services: dict[str, SessionService] | None
) -> bool:
    client = tgt.client
    if query.principal_id is not None and tgt.authentication.principal.id != query.principal_id:
        return False
    if query.ip is not None and (client is None or client.ip != query.ip):
        return False
    if query.network is not None and (client is None or client.network != query.network):
        return False
    if query.service_id is not None and query.service_id not in (services or {}):
        return False
    if query.started_after is not None and tgt.created_at <= query.started_after:
        return False
    return query.started_before is None or tgt.created_at < query.started_before
