"""SAML 2.0 errors, one class per status code (SAML core 3.2.2.2).

The rules and the binding raise them; the web layer catches :class:`SamlError`
in one place and either answers the service provider with a ``<samlp:Response>``
carrying ``status``/``substatus`` (``answerable``), or shows an error page when
no response can be sent safely (unknown SP, malformed request, wrong ACS: the
page never redirects to an address nobody vouched for).
"""

from __future__ import annotations

from typing import ClassVar

_STATUS = "urn:oasis:names:tc:SAML:2.0:status:"

# Top-level codes (core 3.2.2.2).
STATUS_SUCCESS = _STATUS + "Success"
STATUS_REQUESTER = _STATUS + "Requester"
STATUS_RESPONDER = _STATUS + "Responder"
STATUS_VERSION_MISMATCH = _STATUS + "VersionMismatch"
# Second-level codes (core 3.2.2.2).
NO_AUTHN_CONTEXT = _STATUS + "NoAuthnContext"
NO_PASSIVE = _STATUS + "NoPassive"
REQUEST_DENIED = _STATUS + "RequestDenied"
INVALID_NAMEID_POLICY = _STATUS + "InvalidNameIDPolicy"
UNKNOWN_PRINCIPAL = _STATUS + "UnknownPrincipal"
PARTIAL_LOGOUT = _STATUS + "PartialLogout"
AUTHN_FAILED = _STATUS + "AuthnFailed"
REQUEST_UNSUPPORTED = _STATUS + "RequestUnsupported"

MAX_MESSAGE = 500  # log text is cut: a request may put anything in it


class SamlError(Exception):
    """Base of every SAML failure.

    ``message`` is English text for the log, never shown raw to a person nor put
    in a response (``StatusMessage`` would tell an attacker which check failed).
    """

    status: ClassVar[str] = STATUS_RESPONDER
    substatus: ClassVar[str | None] = None
    # False: no SAML Response may be sent (error page only).
    answerable: ClassVar[bool] = True

    def __init__(self, message: str = "") -> None:
        message = message[:MAX_MESSAGE]
        super().__init__(message)
        self.message = message


class BadRequest(SamlError):
    """Malformed message, bad or missing signature, wrong Destination or ACS,
    IssueInstant out of the clock skew, RelayState too long (core 3.2.1, 3.4.1)."""

    status = STATUS_REQUESTER
    answerable = False


class UnknownServiceProvider(SamlError):
    """The issuer is in no trusted metadata: nobody vouches for its ACS (metadata 2.4.4)."""

    answerable = False


class RequestReplayed(SamlError):
    """A request id seen within :data:`~.requests.REQUEST_ID_WINDOW` (profiles 4.1.4.5)."""

    status = STATUS_REQUESTER
    answerable = False


class NoAuthnContext(SamlError):
    """No authentication context we can give meets RequestedAuthnContext (core 3.3.2.2.1)."""

    status = STATUS_REQUESTER
    substatus = NO_AUTHN_CONTEXT


class NoPassive(SamlError):
    """IsPassive and the person would have to interact (no session, a second factor)."""

    status = STATUS_REQUESTER
    substatus = NO_PASSIVE


class RequestDenied(SamlError):
    """The release rules refuse this SP, or the person refused the consent."""

    status = STATUS_RESPONDER
    substatus = REQUEST_DENIED


class InvalidNameIdPolicy(SamlError):
    """NameIDPolicy asks a format this SP may not receive (core 3.4.1.1)."""

    status = STATUS_REQUESTER
    substatus = INVALID_NAMEID_POLICY


class UnknownPrincipal(SamlError):
    """A LogoutRequest names nobody we know in this session (core 3.7.3.2)."""

    status = STATUS_REQUESTER
    substatus = UNKNOWN_PRINCIPAL
