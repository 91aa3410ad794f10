"""The ticket validator's side: /validate, /serviceValidate, /proxyValidate, /p3/*,
/samlValidate and /proxy (CAS Protocol 3.0 sections 2.4 to 2.9)."""

from __future__ import annotations

from dataclasses import dataclass

from .assertion import Assertion
from .errors import (
    InvalidProxyCallback,
    InvalidRequest,
    InvalidService,
    InvalidTicket,
    InvalidTicketSpec,
    UnauthorizedService,
    UnauthorizedServiceProxy,
)
from .ports import Clock, ProxyCallback, TicketRegistry
from .services import ServiceRegistry, same_service
from .tickets import (
    PROXY_GRANTING_TICKET,
    PROXY_GRANTING_TICKET_IOU,
    PROXY_TICKET,
    SERVICE_TICKET,
    ProxyGrantingTicket,
    ServiceTicket,
    TicketLifetimes,
    new_ticket_id,
    ticket_prefix,
)
from .urls import has_control_character

MAX_PARAMETER_LENGTH = 4096


@dataclass(frozen=True)
class ValidationRequest:
    """The parameters of a validation call (2.5.1), already decoded."""

    service: str | None
    ticket: str | None
    renew: bool = False
    pgt_url: str | None = None
    allow_proxy_tickets: bool = False


def check_url_parameter(name: str, value: str) -> None:
    """Refuse a URL parameter that is too long or holds a control character.

    Checked while parsing, before the ticket is looked at (a malformed
    request is not a validation attempt), on every path alike: the fast path
    and the Flask views share this code. A CR or LF could otherwise reach a
    header or a log line, and most C0 controls cannot be written in XML.
    """
    if len(value) > MAX_PARAMETER_LENGTH:
        raise InvalidRequest(f"'{name}' parameter is too long")
    if has_control_character(value):
        raise InvalidRequest(f"'{name}' parameter holds a control character")


def _shown(ticket: str) -> str:
    """A ticket as echoed in a failure message: bounded, so a huge value is not reflected."""
    return ticket if len(ticket) <= 64 else ticket[:64] + "…"


class TicketValidator:
    def __init__(
        self,
        services: ServiceRegistry,
        tickets: TicketRegistry,
        clock: Clock,
        lifetimes: TicketLifetimes,
        proxy_callback: ProxyCallback,
    ) -> None:
        self.services = services
        self.tickets = tickets
        self.clock = clock
        self.lifetimes = lifetimes
        self.proxy_callback = proxy_callback

    def validate(self, request: ValidationRequest) -> Assertion:
        """Validate a service (or proxy) ticket exactly once.

        The ticket is consumed before anything else is checked: whatever the
        outcome, it gets one validation attempt (3.1.1, 3.2.1), and a service
        mismatch leaves it dead (2.5.3 INVALID_SERVICE).
        """
        service, ticket_id = request.service, request.ticket
        if not service or not ticket_id:
            raise InvalidRequest("'service' and 'ticket' parameters are both required")
        check_url_parameter("service", service)
        if request.pgt_url is not None:
            check_url_parameter("pgtUrl", request.pgt_url)
        prefix = ticket_prefix(ticket_id)
        if prefix not in (SERVICE_TICKET, PROXY_TICKET):
            raise InvalidTicket(f"Ticket {_shown(ticket_id)} not recognized")

        ticket = self.tickets.consume_service_ticket(ticket_id)
        if ticket is None:
            raise InvalidTicket(f"Ticket {ticket_id} not recognized")
        now = self.clock.now()
        if ticket.is_expired(now):
            raise InvalidTicket(f"Ticket {ticket_id} has expired")
        if ticket.is_proxy_ticket and not request.allow_proxy_tickets:
            raise InvalidTicketSpec(
                f"Ticket {ticket_id} is a proxy ticket: validate it at /proxyValidate"
            )
        if not same_service(ticket.service, service):
            raise InvalidService(
                f"Ticket {ticket_id} was not issued for service {service}; it is no longer valid"
            )
        if request.renew and not ticket.from_new_login:
            raise InvalidTicket(
                f"Ticket {ticket_id} was issued from a single sign-on session, "
                "but renew was requested"
            )
        registered = self.services.get(ticket.service_id)
        if registered is None or not registered.enabled:
            raise InvalidService(f"Service {service} is no longer authorized")
        authentication = ticket.authentication
        if registered.mfa_required and not authentication.second_factor:
            # Defence in depth: no grant path issues such a ticket, but the
            # service's definition may have changed since this one was issued.
            raise InvalidTicket(
                f"Ticket {ticket_id} was issued without the second factor "
                f"service {service} requires"
            )
        if authentication.surrogate and not registered.surrogate:
            # Defence in depth, as above: the service opted out since (#15).
            raise InvalidTicket(
                f"Ticket {ticket_id} was issued on behalf of someone; "
                f"service {service} refuses such sign-ins"
            )

        pgt_iou = None
        if request.pgt_url:
            pgt_iou = self._grant_proxy_granting_ticket(ticket, request.pgt_url, now)

        principal = authentication.principal
        return Assertion(
            user=principal.id,
            service=ticket.service,
            authenticated_at=authentication.authenticated_at,
            long_term=authentication.long_term,
            from_new_login=ticket.from_new_login,
            attributes=registered.release(principal.attributes),
            proxies=ticket.proxies,
            pgt_iou=pgt_iou,
            cas2_attributes=registered.cas2_attributes,
            methods=authentication.methods,
            second_factor=authentication.second_factor,
            surrogate=authentication.surrogate,
        )

    def _grant_proxy_granting_ticket(self, ticket: ServiceTicket, pgt_url: str, now: float) -> str:
        """Proxy callback (2.5.4): the PGT exists only if the callback got it."""
        registered = self.services.get(ticket.service_id)
        if registered is None or not registered.allows_proxy:
            raise UnauthorizedServiceProxy(
                f"Service {ticket.service} is not authorized to perform proxy authentication"
            )
        if not registered.accepts_proxy_callback(pgt_url):
            raise InvalidProxyCallback(
                f"Proxy callback {_shown(pgt_url)} is not an authorized HTTPS callback URL"
            )
        pgt = ProxyGrantingTicket(
            id=new_ticket_id(PROXY_GRANTING_TICKET),
            tgt_id=ticket.tgt_id,
            service_id=registered.id,
            authentication=ticket.authentication,
            proxies=(pgt_url, *ticket.proxies),
            created_at=now,
            expires_at=now + self.lifetimes.proxy_granting_ticket,
        )
        iou = new_ticket_id(PROXY_GRANTING_TICKET_IOU)
        if not self.proxy_callback(pgt_url, iou, pgt.id):
            raise InvalidProxyCallback(
                f"Proxy callback {_shown(pgt_url)} could not be reached, was not trusted "
                "or did not answer 200"
            )
        self.tickets.add_proxy_granting_ticket(pgt)
        return iou

    def proxy(self, pgt_id: str | None, target_service: str | None) -> str:
        """/proxy (2.7): a proxy ticket for the back-end service."""
        if not pgt_id or not target_service:
            raise InvalidRequest("'pgt' and 'targetService' parameters are both required")
        check_url_parameter("targetService", target_service)
        if ticket_prefix(pgt_id) != PROXY_GRANTING_TICKET:
            raise InvalidTicket(f"Ticket {_shown(pgt_id)} is not a proxy-granting ticket")
        now = self.clock.now()
        pgt = self.tickets.get_proxy_granting_ticket(pgt_id, now)
        if pgt is None:
            raise InvalidTicket(f"Ticket {pgt_id} not recognized")
        registered = self.services.find_enabled(target_service)
        if registered is None:
            raise UnauthorizedService(f"Service {target_service} is not authorized to use CAS")
        if not registered.access.allows(pgt.authentication.principal):
            raise UnauthorizedService(f"Access to {target_service} is not allowed for this user")
        if registered.mfa_required and not pgt.authentication.second_factor:
            # A proxy cannot ask for a second factor: no ticket without one.
            raise UnauthorizedService(
                f"Service {target_service} requires a second factor this session lacks"
            )
        if pgt.authentication.surrogate and not registered.surrogate:
            raise UnauthorizedService(
                f"Service {target_service} refuses sign-ins on behalf of someone"
            )
        proxy_ticket = ServiceTicket(
            id=new_ticket_id(PROXY_TICKET),
            service=target_service,
            service_id=registered.id,
            tgt_id=pgt.tgt_id,
            authentication=pgt.authentication,
            from_new_login=False,
            created_at=now,
            expires_at=now + self.lifetimes.proxy_ticket,
            proxies=pgt.proxies,
            logout_url=registered.single_logout_url(target_service),
        )
        self.tickets.add_service_ticket(proxy_ticket)
        return proxy_ticket.id
