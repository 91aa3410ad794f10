"""Single logout: the SAML 2.0 LogoutRequest sent to services (CAS 3.0 2.3.3, Appendix C).

Back channel, this server POSTs the document to the service's logout URL.
Front channel (Apereo CAS's ``logout_type = FRONT_CHANNEL``), the browser
ending its session loads ``<logout URL>?logoutRequest=<document>``, the
document compressed with zlib's DEFLATE (``java.util.zip.Deflater()``, as
Apereo's ``CompressionUtils.deflate``, which the Java CAS client and pac4j
``Inflater()`` expect) then base64-encoded; see :func:`front_channel_url`.

The document has exactly the shape of Appendix C (``xmlns:saml`` declared on
``saml:NameID``). Appendix C writes ``@NOT_USED@`` in ``NameID``: clients do
not read it, they log out the session of the service ticket in
``SessionIndex`` (2.3.3.2). Like Apereo CAS we put the principal id there, and
fall back to ``@NOT_USED@`` when none is given.
"""

from __future__ import annotations

import base64
import secrets
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from .assertion import iso8601
from .responses import xml_attr, xml_text
from .services import ServiceRegistry
from .tickets import SingleLogoutTarget
from .urls import origin

SAMLP2_NAMESPACE = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML2_NAMESPACE = "urn:oasis:names:tc:SAML:2.0:assertion"
NOT_USED = "@NOT_USED@"
LOGOUT_REQUEST_PARAMETER = "logoutRequest"


def logout_request(*, session_index: str, name_id: str, now: float) -> str:
    """The Appendix C logout XML document for the service ticket ``session_index``.

    ``ID`` is fresh randomness from :mod:`secrets` (an NCName, as SAML 2.0
    requires), ``IssueInstant`` is ``now`` in UTC.
    """
    request_id = "_" + secrets.token_hex(16)
    return (
        f'<samlp:LogoutRequest xmlns:samlp="{SAMLP2_NAMESPACE}"'
        f' ID="{xml_attr(request_id)}" Version="2.0" IssueInstant="{iso8601(now)}">'
        f'<saml:NameID xmlns:saml="{SAML2_NAMESPACE}">{xml_text(name_id or NOT_USED)}</saml:NameID>'
        f"<samlp:SessionIndex>{xml_text(session_index)}</samlp:SessionIndex>"
        "</samlp:LogoutRequest>"
    )


def logout_form_body(message: str) -> dict[str, str]:
    """The form fields of the back-channel SLO POST (2.3.3): ``logoutRequest=<document>``."""
    return {LOGOUT_REQUEST_PARAMETER: message}


def compress_message(message: str) -> str:
    """``base64(zlib DEFLATE(message))``: the ``logoutRequest`` value of the front channel."""
    return base64.b64encode(zlib.compress(message.encode("utf-8"))).decode("ascii")


def front_channel_url(logout_url: str, message: str) -> str:
    """``logout_url`` with ``logoutRequest=<compressed message>`` added to its query."""
    parts = urlsplit(logout_url)
    parameter = urlencode({LOGOUT_REQUEST_PARAMETER: compress_message(message)})
    query = f"{parts.query}&{parameter}" if parts.query else parameter
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


@dataclass(frozen=True)
class FrontChannelRequest:
    """One URL the browser must load to sign the user out of a service."""

    service_id: str
    service_name: str
    url: str
    origin: str


@dataclass(frozen=True)
class LogoutPlan:
    """How the services of an ended session are told."""

    back_channel: tuple[SingleLogoutTarget, ...]
    front_channel: tuple[SingleLogoutTarget, ...]


def plan_logout(targets: Iterable[SingleLogoutTarget], services: ServiceRegistry) -> LogoutPlan:
    """Split the services to tell by their logout type, looked up now in the registry.

    A service whose definition says ``front_channel`` is left to the browser;
    one that no longer wants single logout (``none``) is dropped; every other
    target, including a service no longer registered, keeps the back channel
    its ticket was issued with (its ``logout_url``, else its service URL).
    """
    back: list[SingleLogoutTarget] = []
    front: list[SingleLogoutTarget] = []
    for target in targets:
        registered = services.get(target.service_id)
        if registered is None:
            back.append(target)
        elif registered.front_channel:
            front.append(target)
        elif registered.wants_single_logout:
            back.append(target)
    return LogoutPlan(tuple(back), tuple(front))


def front_channel_requests(
    targets: Iterable[SingleLogoutTarget],
    services: ServiceRegistry,
    *,
    name_id: str,
    now: float,
) -> list[FrontChannelRequest]:
    """The URLs the browser must load: one LogoutRequest per service ticket.

    The URL is the service's logout URL as defined now (the one its ticket
    carried if the definition has none); a URL without a usable origin is skipped.
    """
    requests: list[FrontChannelRequest] = []
    for target in targets:
        registered = services.get(target.service_id)
        logout_url = (registered.logout_url if registered else None) or target.logout_url
        source = origin(logout_url)
        if source is None:
            continue
        message = logout_request(session_index=target.ticket_id, name_id=name_id, now=now)
        requests.append(
            FrontChannelRequest(
                service_id=target.service_id,
                service_name=registered.name if registered else target.service_id,
                url=front_channel_url(logout_url, message),
                origin=source,
            )
        )
    return requests
