"""Ports the protocol needs from the outside world; adapters implement them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .tickets import (
    Authentication,
    ProxyGrantingTicket,
    ServiceTicket,
    SessionClient,
    SingleLogoutTarget,
    TicketGrantingTicket,
)


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class StoreUnavailable(RuntimeError):
    """A shared store (database, Redis, directory) could not be reached.

    Adapters raise it instead of their driver's errors, so that the web layer
    answers "temporarily unavailable" (HTTP 503, or INTERNAL_ERROR for a
    validation) whichever backend is down.
    """


class TicketRegistry(Protocol):
    """Where tickets live (Apereo CAS's TicketRegistry, trimmed to what we use).

    Every method is one round trip to the store. Single use is the store's
    job: :meth:`consume_service_ticket` must hand a ticket to exactly one
    caller even when several processes ask at the same instant.
    """

    def add_ticket_granting_ticket(self, tgt: TicketGrantingTicket) -> None: ...

    def get_ticket_granting_ticket(self, tgt_id: str, now: float) -> TicketGrantingTicket | None:
        """The live session with this id, or None if unknown or expired."""
        ...

    def grant_service_ticket(
        self,
        tgt_id: str,
        now: float,
        build: Callable[[TicketGrantingTicket], ServiceTicket],
    ) -> ServiceTicket | None:
        """Atomically: find the live session, mark it used at ``now``, store ``build(tgt)``.

        A store may skip recording a use that follows the last recorded one
        closely (``tickets.touch_due``); the ticket is stored only if the
        session is still alive when it is written.

        Returns None (and stores nothing) if the session is unknown or
        expired. If ``build`` raises, nothing is stored and the error propagates.
        """
        ...

    def replace_authentication(
        self, tgt_id: str, authentication: Authentication, now: float
    ) -> TicketGrantingTicket | None:
        """Atomically: if the session is alive at ``now``, give it ``authentication``.

        Only what the session will grant from now on changes: tickets
        already issued keep the authentication they were issued with. A
        session never changes hands: an authentication of another principal
        changes nothing. Returns the updated session, or None (and changes
        nothing) if the session is unknown, expired or another principal's.
        """
        ...

    def add_service_ticket(self, ticket: ServiceTicket) -> None: ...

    def consume_service_ticket(self, ticket_id: str) -> ServiceTicket | None:
        """Mark the service or proxy ticket used and return it, exactly once.

        The first caller gets the ticket (expired or not: the protocol
        decides); every later caller, and any caller of an unknown id, gets None.
        """
        ...

    def add_proxy_granting_ticket(self, pgt: ProxyGrantingTicket) -> None: ...

    def get_proxy_granting_ticket(self, pgt_id: str, now: float) -> ProxyGrantingTicket | None:
        """The live PGT whose SSO session is still alive, or None."""
        ...

    def destroy_ticket_granting_ticket(self, tgt_id: str) -> list[SingleLogoutTarget]:
        """Remove the session and every ticket descending from it; return whom to notify."""
        ...

    def sessions_for(self, principal_id: str, now: float) -> list[TicketGrantingTicket]: ...

    def destroy_sessions_for(self, principal_id: str) -> list[SingleLogoutTarget]: ...

    def purge_expired(self, now: float) -> int:
        """Delete expired tickets; return how many went."""
        ...


@dataclass(frozen=True)
class SessionService:
    """A service that received a ticket in a session, first at ``first_at``."""

    service_id: str
    service: str
    first_at: float


@dataclass(frozen=True)
class SessionRecord:
    """A live SSO session as its owner and the help desk see it."""

    handle: str  # ticket_digest(tgt.id): names a session on pages and forms; never the TGC
    principal_id: str
    client: SessionClient | None
    created_at: float
    last_used_at: float
    expires_at: float  # when it ends if unused: min(hard limit, last use + idle)
    long_term: bool
    surrogate: str | None
    services: tuple[SessionService, ...]


@dataclass(frozen=True)
class SessionQuery:
    """A search of live sessions: every field is optional; all given ones must match."""

    principal_id: str | None = None
    ip: str | None = None
    network: str | None = None
    service_id: str | None = None
    started_after: float | None = None  # created_at > started_after
    started_before: float | None = None  # created_at < started_before
    limit: int = 100  # newest first


class SessionDirectory(Protocol):
    """Live SSO sessions by owner, address, network or service (#15).

    Implemented beside each ticket registry, on the same store. Searches
    use the store's indexes, never a scan of every session.
    """

    def sessions_of(self, principal_id: str, now: float) -> list[SessionRecord]:
        """The principal's live sessions, newest first."""
        ...

    def session(self, handle: str, now: float) -> SessionRecord | None:
        """The live session named by ``handle``, or None."""
        ...

    def search(self, query: SessionQuery, now: float) -> list[SessionRecord]:
        """Live sessions matching every given field of ``query``, newest first."""
        ...

    def destroy_session(
        self, handle: str, principal_id: str | None = None
    ) -> list[SingleLogoutTarget] | None:
        """End the session named by handle (only if it belongs to principal_id when given),
        atomically; None if no such live session (or another principal's).

        Returns whom to notify (single logout), as a logout does. Liveness is
        judged by the store's clock (the system's), as there is no ``now``.
        """
        ...


class TicketStore(TicketRegistry, SessionDirectory, Protocol):
    """A ticket store: the registry and, on the same data, the session directory."""


class ProxyCallback(Protocol):
    """Calls the service's pgtUrl over HTTPS with pgtIou and pgtId (2.5.4).

    Returns True only when the peer's certificate was trusted and the
    answer was HTTP 200.
    """

    def __call__(self, pgt_url: str, pgt_iou: str, pgt_id: str) -> bool: ...
