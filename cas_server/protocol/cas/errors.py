"""Protocol errors, one class per error code of the CAS 3.0 specification.

The core raises them; one handler in the web layer renders the failure in the
format the caller asked for (text, XML, JSON or SAML). Codes are those of
CAS Protocol 3.0 sections 2.5.3 (validation) and 2.7.3 (/proxy).
"""

from __future__ import annotations

from typing import ClassVar


class CasError(Exception):
    """Base of every protocol failure; ``code`` is the spec's error code."""

    code: ClassVar[str] = "INTERNAL_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(CasError):
    """Not all of the required request parameters were present (2.5.3)."""

    code = "INVALID_REQUEST"


class InvalidTicketSpec(CasError):
    """Failure to meet the requirements of the validation specification (2.5.3)."""

    code = "INVALID_TICKET_SPEC"


class UnauthorizedServiceProxy(CasError):
    """The service is not authorized to perform proxy authentication (2.5.3)."""

    code = "UNAUTHORIZED_SERVICE_PROXY"


class InvalidProxyCallback(CasError):
    """The proxy callback is invalid or could not be reached securely (2.5.3, 2.5.4)."""

    code = "INVALID_PROXY_CALLBACK"


class InvalidTicket(CasError):
    """Unknown, expired or already used ticket, or renew not satisfied (2.5.3)."""

    code = "INVALID_TICKET"


class InvalidService(CasError):
    """The ticket was valid but issued for another service; it is now dead (2.5.3)."""

    code = "INVALID_SERVICE"


class UnauthorizedService(CasError):
    """The target service may not receive proxy tickets (2.7.3)."""

    code = "UNAUTHORIZED_SERVICE"


class InternalError(CasError):
    """An internal error occurred during ticket validation (2.5.3)."""

    code = "INTERNAL_ERROR"


class SecondFactorRequired(CasError):
    """The service requires a second factor and the SSO session has none.

    Raised instead of granting a ticket; never sent to a service: the web
    layer asks the person for a second factor and then grants the ticket.
    """

    code = "SECOND_FACTOR_REQUIRED"

    def __init__(self, service: str, service_id: str = "") -> None:
        super().__init__(f"service {service[:200]} requires a second factor")
        self.service = service
        self.service_id = service_id


class SurrogateSession(CasError):
    """A ticket asked from an impersonation session where the caller does not
    issue those (the fast path): nothing stored, the audited path takes over (#15)."""

    code = "SURROGATE_SESSION"

    def __init__(self, service: str) -> None:
        super().__init__(f"a surrogate session asks a ticket for {service[:200]}")
        self.service = service


#: ``ServiceNotAuthorized.reason`` when the service refuses sign-ins on behalf of
#: someone (``surrogate = false``) and the session is a surrogate one.
SURROGATE_REFUSED = "surrogate_refused"


class ServiceNotAuthorized(Exception):
    """A service URL that no enabled registered service accepts.

    Not a validation error: /login shows the "application not authorized"
    page (HTTP 403) and never redirects to such a URL.
    """

    def __init__(self, service: str, reason: str = "unregistered") -> None:
        super().__init__(f"service not authorized ({reason})")
        self.service = service
        self.reason = reason
