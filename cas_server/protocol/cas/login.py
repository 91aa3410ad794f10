"""The credential acceptor's side: SSO sessions and service ticket issue (2.1, 2.2, 2.3)."""

from __future__ import annotations

from .errors import (
    SURROGATE_REFUSED,
    SecondFactorRequired,
    ServiceNotAuthorized,
    SurrogateSession,
)
from .ports import Clock, TicketRegistry
from .services import RegisteredService, ServiceRegistry
from .tickets import (
    SERVICE_TICKET,
    TICKET_GRANTING_TICKET,
    Authentication,
    Principal,
    ServiceTicket,
    SessionClient,
    SingleLogoutTarget,
    TicketGrantingTicket,
    TicketLifetimes,
    new_ticket_id,
    ticket_prefix,
)

MAX_SERVICE_LENGTH = 4096


class LoginService:
    """Opens and closes SSO sessions and grants service tickets from them."""

    def __init__(
        self,
        services: ServiceRegistry,
        tickets: TicketRegistry,
        clock: Clock,
        lifetimes: TicketLifetimes,
    ) -> None:
        self.services = services
        self.tickets = tickets
        self.clock = clock
        self.lifetimes = lifetimes

    def authorize_service(
        self, service: str, principal: Principal | None = None
    ) -> RegisteredService:
        """The registered service for this URL, or :class:`ServiceNotAuthorized`.

        With a principal, the service's access rule is applied too.
        """
        if not service or len(service) > MAX_SERVICE_LENGTH:
            raise ServiceNotAuthorized(service[:200], "invalid")
        registered = self.services.match(service)
        if registered is None:
            raise ServiceNotAuthorized(service, "unregistered")
        if not registered.enabled:
            raise ServiceNotAuthorized(service, "disabled")
        if principal is not None and not registered.access.allows(principal):
            raise ServiceNotAuthorized(service, "access_denied")
        return registered

    def create_session(
        self,
        principal: Principal,
        *,
        long_term: bool = False,
        idle_timeout: float | None = None,
        second_factor: str | None = None,
        client: SessionClient | None = None,
        surrogate: str | None = None,
        hard_timeout: float | None = None,
    ) -> TicketGrantingTicket:
        """A new SSO session after a successful primary authentication.

        ``second_factor``: the method of a second factor satisfied in the
        same sign-in (``totp``…), recorded with the password. ``client``:
        where the session was opened. ``surrogate``: the operator's login
        when a help-desk operator acts as ``principal``. ``hard_timeout``
        shortens the session's hard limit (it never lengthens it).
        """
        now = self.clock.now()
        authentication = Authentication(
            principal, authenticated_at=now, long_term=long_term, surrogate=surrogate
        )
        if second_factor is not None:
            authentication = authentication.with_second_factor(second_factor, now)
        hard = self.lifetimes.tgt_long_term if long_term else self.lifetimes.tgt_hard
        idle = idle_timeout if idle_timeout is not None else self.lifetimes.tgt_idle
        if long_term:
            idle = max(idle, hard)
        if hard_timeout is not None:
            hard = min(hard, hard_timeout)
            idle = min(idle, hard)
        tgt = TicketGrantingTicket(
            id=new_ticket_id(TICKET_GRANTING_TICKET),
            authentication=authentication,
            created_at=now,
            expires_at=now + hard,
            idle_timeout=idle,
            last_used_at=now,
            client=client,
        )
        self.tickets.add_ticket_granting_ticket(tgt)
        return tgt

    def current_session(self, tgt_id: str | None) -> TicketGrantingTicket | None:
        """The live session named by a ticket-granting cookie value, if any."""
        if not tgt_id or ticket_prefix(tgt_id) != TICKET_GRANTING_TICKET:
            return None
        return self.tickets.get_ticket_granting_ticket(tgt_id, self.clock.now())

    @staticmethod
    def needs_second_factor(service: RegisteredService | None, tgt: TicketGrantingTicket) -> bool:
        """Whether ``service`` requires a second factor that the session has not satisfied."""
        return service is not None and service.mfa_required and not tgt.authentication.second_factor

    def step_up(self, tgt_id: str, method: str, now: float) -> TicketGrantingTicket | None:
        """The session once a second factor (``method``) was satisfied at ``now``.

        ``method`` joins the session's methods (once) and ``mfa_at`` becomes
        ``now``; tickets already issued keep the authentication they carry.
        None if the session has ended. ``ValueError`` if ``method`` is not a
        second factor.
        """
        if ticket_prefix(tgt_id) != TICKET_GRANTING_TICKET:
            return None
        tgt = self.tickets.get_ticket_granting_ticket(tgt_id, now)
        if tgt is None:
            return None
        stepped = tgt.authentication.with_second_factor(method, now)
        return self.tickets.replace_authentication(tgt_id, stepped, now)

    def _check(
        self, tgt: TicketGrantingTicket, service: str, registered: RegisteredService
    ) -> None:
        """The rules every ticket grant obeys: the access rule, the surrogate opt-out
        ("this service refuses sign-ins on behalf of someone"), then the second factor."""
        if not registered.access.allows(tgt.authentication.principal):
            raise ServiceNotAuthorized(service, "access_denied")
        if tgt.authentication.surrogate and not registered.surrogate:
            raise ServiceNotAuthorized(service, SURROGATE_REFUSED)
        if self.needs_second_factor(registered, tgt):
            raise SecondFactorRequired(service, registered.id)

    def _service_ticket(
        self,
        tgt_id: str,
        authentication: Authentication,
        service: str,
        registered: RegisteredService,
        *,
        from_new_login: bool,
        now: float,
    ) -> ServiceTicket:
        return ServiceTicket(
            id=new_ticket_id(SERVICE_TICKET),
            service=service,
            service_id=registered.id,
            tgt_id=tgt_id,
            authentication=authentication,
            from_new_login=from_new_login,
            created_at=now,
            expires_at=now + self.lifetimes.service_ticket,
            logout_url=registered.single_logout_url(service),
        )

    def grant_after_login(
        self, tgt: TicketGrantingTicket, service: str, registered: RegisteredService
    ) -> ServiceTicket:
        """The service ticket that follows the presentation of primary credentials.

        :class:`SecondFactorRequired` if the service requires a second
        factor the session has not satisfied (nothing is stored).
        """
        self._check(tgt, service, registered)
        ticket = self._service_ticket(
            tgt.id,
            tgt.authentication,
            service,
            registered,
            from_new_login=True,
            now=self.clock.now(),
        )
        self.tickets.add_service_ticket(ticket)
        return ticket

    def grant_from_session(
        self,
        tgt_id: str,
        service: str,
        registered: RegisteredService,
        *,
        allow_surrogate: bool = True,
    ) -> ServiceTicket | None:
        """Single sign-on: a ticket from the live session, or None if it has ended.

        One round trip to the store: the session is checked, touched and the
        ticket stored together. :class:`SecondFactorRequired` (nothing
        stored) if the service requires a second factor the session lacks:
        the fast path included, a password-only session never gets a ticket
        for such a service. ``allow_surrogate=False``: :class:`SurrogateSession`
        (nothing stored) for a session where an operator acts as someone, so that
        the caller hands it to a path that audits each of its tickets.
        """
        if ticket_prefix(tgt_id) != TICKET_GRANTING_TICKET:
            return None
        now = self.clock.now()

        def build(tgt: TicketGrantingTicket) -> ServiceTicket:
            if tgt.authentication.surrogate and not allow_surrogate:
                raise SurrogateSession(service)
            self._check(tgt, service, registered)
            return self._service_ticket(
                tgt.id, tgt.authentication, service, registered, from_new_login=False, now=now
            )

        return self.tickets.grant_service_ticket(tgt_id, now, build)

    def end_session(self, tgt_id: str | None) -> list[SingleLogoutTarget]:
        """Logout (2.3): the session and all its tickets go; returns the services to notify."""
        if not tgt_id or ticket_prefix(tgt_id) != TICKET_GRANTING_TICKET:
            return []
        return self.tickets.destroy_ticket_granting_ticket(tgt_id)

    def end_sessions_of(self, principal_id: str) -> list[SingleLogoutTarget]:
        """Every SSO session of one user (after a password reset, or from the console)."""
        return self.tickets.destroy_sessions_for(principal_id)
