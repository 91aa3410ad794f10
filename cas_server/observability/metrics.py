"""Prometheus metrics: sign-ins, tickets issued and validated, latencies.

The metrics are module-level (one set per process, however many apps a
test builds). Under gunicorn with several workers, each worker counts on
its own: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder writable by
the workers (``config/gunicorn.conf.py`` clears it at start and forgets
dead workers), and the metrics page sums them. Wrappers add the counting
around the ports, so no protocol or storage code knows about metrics.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

from ..auth import AuthResult, Rejected, Reserve, Success, UserSource, no_reserve
from ..protocol.cas.assertion import Assertion
from ..protocol.cas.errors import CasError
from ..protocol.cas.ports import TicketRegistry
from ..protocol.cas.tickets import (
    Authentication,
    ProxyGrantingTicket,
    ServiceTicket,
    SingleLogoutTarget,
    TicketGrantingTicket,
)
from ..protocol.cas.validation import TicketValidator, ValidationRequest

R = TypeVar("R")
FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
SLOW = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

LOGINS = Counter("cas_logins", "Sign-in attempts (credentials checked), by outcome", ["outcome"])
AUTHENTICATIONS = Counter(
    "cas_authentications", "Answers of each user source, by outcome", ["source", "outcome"]
)
AUTHENTICATION_SECONDS = Histogram(
    "cas_authentication_seconds", "Time a user source takes to answer", ["source"], buckets=SLOW
)
TICKETS_ISSUED = Counter("cas_tickets_issued", "Tickets issued, by kind", ["kind"])
VALIDATIONS = Counter(
    "cas_ticket_validations",
    "Ticket validations, by outcome (success or CAS error code)",
    ["outcome"],
)
STORE_SECONDS = Histogram(
    "cas_ticket_store_seconds", "Ticket store operations", ["operation"], buckets=FAST
)
HTTP_SECONDS = Histogram(
    "cas_http_request_seconds", "Request latency, by endpoint", ["endpoint", "method"], buckets=SLOW
)
HTTP_RESPONSES = Counter(
    "cas_http_responses", "Responses, by endpoint and status", ["endpoint", "status"]
)

# SAML 2.0 identity provider (#18). The metadata gauges are set by cas_server.saml.metadata
# after each load or refresh; with several workers the worst (ok) and the latest
# (last success) of the live workers are shown.
SAML_METADATA_OK = Gauge(
    "cas_saml_metadata_ok",
    "1 when the last load or refresh of a SAML metadata source succeeded, else 0",
    ["source"],
    multiprocess_mode="livemin",
)
SAML_METADATA_LAST_SUCCESS = Gauge(
    "cas_saml_metadata_last_success_seconds",
    "When a SAML metadata source was last loaded or refreshed successfully (Unix time)",
    ["source"],
    multiprocess_mode="livemax",
)
SAML_METADATA_ENTITIES = Gauge(
    "cas_saml_metadata_entities",
    "Service providers known from a SAML metadata source",
    ["source"],
    multiprocess_mode="livemax",
)
SAML_RESPONSES = Counter(
    "cas_saml_responses",
    "SAML responses sent to service providers, by outcome (success or the error class)",
    ["outcome"],
)

# Label lookups hash and validate their values on each call; the hot paths
# ask for the same few children all day, so they are kept.
_children: dict[tuple[int, tuple[str, ...]], Any] = {}


def labelled(metric: Any, *values: str) -> Any:
    """The child of a labelled metric, looked up once per process."""
    key = (id(metric), values)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*values)
    return child


def render() -> tuple[bytes, str]:
    """The metrics page: this process's, or every worker's in multi-process mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def _outcome(result: AuthResult) -> str:
    if isinstance(result, Success):
        return "success"
    if isinstance(result, Rejected):
        return result.reason.value
    return "unavailable"


class MeteredUserSource:
    """Counts a source's answers and times them."""

    def __init__(self, source: UserSource, overall: bool = False) -> None:
        self.source = source
        self.name = source.name
        self.overall = overall

    def authenticate(self, login: str, password: str, reserve: Reserve = no_reserve) -> AuthResult:
        started = time.perf_counter()
        result = self.source.authenticate(login, password, reserve)
        labelled(AUTHENTICATION_SECONDS, self.name).observe(time.perf_counter() - started)
        outcome = _outcome(result)
        labelled(AUTHENTICATIONS, self.name, outcome).inc()
        if self.overall:
            labelled(LOGINS, outcome).inc()
        return result


class MeteredTicketRegistry:
    """Times every store operation and counts the tickets issued."""

    def __init__(self, store: TicketRegistry) -> None:
        self.store = store

    def _timed(self, operation: str, call: Callable[[], R]) -> R:
        started = time.perf_counter()
        try:
            return call()
        finally:
            labelled(STORE_SECONDS, operation).observe(time.perf_counter() - started)

    def add_ticket_granting_ticket(self, tgt: TicketGrantingTicket) -> None:
        self._timed("add_tgt", lambda: self.store.add_ticket_granting_ticket(tgt))
        labelled(TICKETS_ISSUED, "TGT").inc()

    def get_ticket_granting_ticket(self, tgt_id: str, now: float) -> TicketGrantingTicket | None:
        return self._timed("get_tgt", lambda: self.store.get_ticket_granting_ticket(tgt_id, now))

    def grant_service_ticket(
        self, tgt_id: str, now: float, build: Callable[[TicketGrantingTicket], ServiceTicket]
    ) -> ServiceTicket | None:
        ticket = self._timed("grant", lambda: self.store.grant_service_ticket(tgt_id, now, build))
        if ticket is not None:
            labelled(TICKETS_ISSUED, "ST").inc()
        return ticket

    def replace_authentication(
        self, tgt_id: str, authentication: Authentication, now: float
    ) -> TicketGrantingTicket | None:
        return self._timed(
            "replace_auth",
            lambda: self.store.replace_authentication(tgt_id, authentication, now),
        )

    def add_service_ticket(self, ticket: ServiceTicket) -> None:
        self._timed("add_st", lambda: self.store.add_service_ticket(ticket))
        labelled(TICKETS_ISSUED, "PT" if ticket.is_proxy_ticket else "ST").inc()

    def consume_service_ticket(self, ticket_id: str) -> ServiceTicket | None:
        return self._timed("consume", lambda: self.store.consume_service_ticket(ticket_id))

    def add_proxy_granting_ticket(self, pgt: ProxyGrantingTicket) -> None:
        self._timed("add_pgt", lambda: self.store.add_proxy_granting_ticket(pgt))
        labelled(TICKETS_ISSUED, "PGT").inc()

    def get_proxy_granting_ticket(self, pgt_id: str, now: float) -> ProxyGrantingTicket | None:
        return self._timed("get_pgt", lambda: self.store.get_proxy_granting_ticket(pgt_id, now))

    def destroy_ticket_granting_ticket(self, tgt_id: str) -> list[SingleLogoutTarget]:
        return self._timed("logout", lambda: self.store.destroy_ticket_granting_ticket(tgt_id))

    def sessions_for(self, principal_id: str, now: float) -> list[TicketGrantingTicket]:
        return self._timed("sessions", lambda: self.store.sessions_for(principal_id, now))

    def destroy_sessions_for(self, principal_id: str) -> list[SingleLogoutTarget]:
        return self._timed("logout_all", lambda: self.store.destroy_sessions_for(principal_id))

    def purge_expired(self, now: float) -> int:
        return self._timed("purge", lambda: self.store.purge_expired(now))

    def __getattr__(self, name: str) -> Any:
        # Adapter-specific extras (engine, client…) stay reachable.
        return getattr(self.store, name)


class MeteredValidator(TicketValidator):
    """Counts validations by outcome: ``success`` or the CAS error code."""

    def validate(self, request: ValidationRequest) -> Assertion:
        try:
            assertion = super().validate(request)
        except CasError as error:
            labelled(VALIDATIONS, error.code).inc()
            raise
        labelled(VALIDATIONS, "success").inc()
        return assertion
