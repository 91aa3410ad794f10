"""One retry after a dropped database connection, for the operations where it is safe.

When PostgreSQL fails over (the primary stops, a standby is promoted), every
connection to the old primary dies. The engine discards them
(``pool_pre_ping``, and SQLAlchemy invalidates the whole pool on the first
disconnect it sees), and libpq's multi-host URL with
``target_session_attrs=read-write`` opens the next ones on the new primary.
A request that was using a dying connection still fails; :func:`retry_once`
runs it again once, immediately, on a fresh connection, **only** when:

- the error is a lost connection (:func:`dropped_connection`): the
  connection was invalidated, or it failed while connecting (nothing was
  sent); a constraint violation, a deadlock, a syntax error is never retried;
- and the operation is safe to run twice: a read, or a write whose second
  run cannot add an effect (the ticket store's operations, below).

Never retried: account writes (a password change may have committed before
its acknowledgement was lost: running it again would add a second history
entry or fail on the old password), nor anything outside the ticket store.
No sleeping: if the database is still away, the retry fails within the
connect time-out and the request gets the "temporarily unavailable" answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

from ...protocol.cas.tickets import (
    Authentication,
    ProxyGrantingTicket,
    ServiceTicket,
    SingleLogoutTarget,
    TicketGrantingTicket,
)

log = logging.getLogger(__name__)
R = TypeVar("R")


def dropped_connection(error: BaseException) -> bool:
    """True for a connection the database dropped, or one that could not be opened."""
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    # Raised while connecting (SQLAlchemy gives no statement then): nothing was sent.
    return isinstance(error, OperationalError) and not error.statement


def retry_once(what: str, call: Callable[[], R]) -> R:
    """``call()``, again once if it failed on a dropped connection (the caller knows it is safe)."""
    try:
        return call()
    except DBAPIError as error:
        if not dropped_connection(error):
            raise
        log.warning("database connection lost during %s; retrying once", what)
    return call()


class RetryingTicketRegistry:
    """The SQL ticket store, each operation retried once after a dropped connection.

    Why each is safe to run twice:

    - reads (``get_*``, ``sessions_for``): no effect;
    - inserts of a new ticket (``add_*``, ``grant_service_ticket``): the ids
      are new random values; if the first run committed, the second fails on
      the unique key (an error, no second ticket) or, for a grant, leaves an
      unused ticket nobody holds;
    - ``consume_service_ticket``: the conditional update succeeds once; a
      second run after a lost acknowledgement finds the ticket used and the
      validation fails (closed, never a second success);
    - ``replace_authentication``, ``destroy_*``, ``purge_expired``: the same
      end state (a destroy whose first run committed returns no single-logout
      targets the second time: those services are not notified).

    Other attributes (the store's session directory, added by others) pass through.
    """

    def __init__(self, store: Any) -> None:
        self.store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def add_ticket_granting_ticket(self, tgt: TicketGrantingTicket) -> None:
        retry_once("add_tgt", lambda: self.store.add_ticket_granting_ticket(tgt))

    def get_ticket_granting_ticket(self, tgt_id: str, now: float) -> TicketGrantingTicket | None:
        result: TicketGrantingTicket | None = retry_once(
            "get_tgt", lambda: self.store.get_ticket_granting_ticket(tgt_id, now)
        )
        return result

    def grant_service_ticket(
        self, tgt_id: str, now: float, build: Callable[[TicketGrantingTicket], ServiceTicket]
    ) -> ServiceTicket | None:
        result: ServiceTicket | None = retry_once(
            "grant", lambda: self.store.grant_service_ticket(tgt_id, now, build)
        )
        return result

    def replace_authentication(
        self, tgt_id: str, authentication: Authentication, now: float
    ) -> TicketGrantingTicket | None:
        result: TicketGrantingTicket | None = retry_once(
            "replace_auth", lambda: self.store.replace_authentication(tgt_id, authentication, now)
        )
        return result

    def add_service_ticket(self, ticket: ServiceTicket) -> None:
        retry_once("add_st", lambda: self.store.add_service_ticket(ticket))

    def consume_service_ticket(self, ticket_id: str) -> ServiceTicket | None:
        result: ServiceTicket | None = retry_once(
            "consume", lambda: self.store.consume_service_ticket(ticket_id)
        )
        return result

    def add_proxy_granting_ticket(self, pgt: ProxyGrantingTicket) -> None:
        retry_once("add_pgt", lambda: self.store.add_proxy_granting_ticket(pgt))

    def get_proxy_granting_ticket(self, pgt_id: str, now: float) -> ProxyGrantingTicket | None:
        result: ProxyGrantingTicket | None = retry_once(
            "get_pgt", lambda: self.store.get_proxy_granting_ticket(pgt_id, now)
        )
        return result

    def destroy_ticket_granting_ticket(self, tgt_id: str) -> list[SingleLogoutTarget]:
        result: list[SingleLogoutTarget] = retry_once(
            "destroy", lambda: self.store.destroy_ticket_granting_ticket(tgt_id)
        )
        return result

    def sessions_for(self, principal_id: str, now: float) -> list[TicketGrantingTicket]:
        result: list[TicketGrantingTicket] = retry_once(
            "sessions", lambda: self.store.sessions_for(principal_id, now)
        )
        return result

    def destroy_sessions_for(self, principal_id: str) -> list[SingleLogoutTarget]:
        result: list[SingleLogoutTarget] = retry_once(
            "destroy_user", lambda: self.store.destroy_sessions_for(principal_id)
        )
        return result

    def purge_expired(self, now: float) -> int:
        result: int = retry_once("purge", lambda: self.store.purge_expired(now))
        return result
