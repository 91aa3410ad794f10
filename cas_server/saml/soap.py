"""Back-channel single logout over the SOAP binding (SAML bindings 3.2, profiles 4.4.3.3).

When a session ends without its browser (the console's or the profile's "end this
session", a lock, a password change), no frame can carry a LogoutRequest to the SPs
of that session. An SP whose metadata offers a SOAP ``SingleLogoutService`` is then
sent one directly: XML-signed (the SOAP binding has no other signature), inside a
SOAP 1.1 envelope, POSTed by the outbound HTTP client in the background, as CAS
back-channel logout is. An SP without a SOAP endpoint keeps its own session until it
times out.

The answer is read only to log it: a LogoutResponse whose status is not Success, an
HTTP error or an unreachable SP changes nothing here (the session has ended).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree
from saml2 import BINDING_SOAP

from .entities import Endpoint, _endpoints
from .signing import UnsafeXml, parse_xml

log = logging.getLogger(__name__)

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
SOAP_ACTION = "http://www.oasis-open.org/committees/security"  # bindings 3.2.3.3
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
MAX_ANSWER = 64 * 1024


@dataclass(frozen=True)
class SoapMessage:
    """One LogoutRequest to send: the SP's SOAP endpoint and the envelope."""

    sp_entity_id: str
    url: str
    body: bytes  # the SOAP envelope (UTF-8 XML)


def soap_logout_endpoint(entity: Mapping[str, Any]) -> Endpoint | None:
    """The SP's SingleLogoutService with the SOAP binding, if its metadata has one."""
    for endpoint in _endpoints(entity, "single_logout_service"):
        if endpoint.binding == BINDING_SOAP and endpoint.location:
            return endpoint
    return None


def envelope(message_xml: bytes) -> bytes:
    """``message_xml`` (a signed SAML protocol message) in a SOAP 1.1 envelope. The
    signature stays valid: exclusive canonicalisation ignores the new ancestors."""
    root = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"SOAP-ENV": SOAP_ENV})
    body = etree.SubElement(root, f"{{{SOAP_ENV}}}Body")
    body.append(parse_xml(message_xml))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def answer_status(answer: bytes) -> str | None:
    """The top StatusCode of the LogoutResponse in a SOAP answer, None if unreadable."""
    try:
        root = parse_xml(answer, max_size=MAX_ANSWER)
    except UnsafeXml:
        return None
    code = root.find(
        f"{{{SOAP_ENV}}}Body/{{{SAMLP_NS}}}LogoutResponse/"
        f"{{{SAMLP_NS}}}Status/{{{SAMLP_NS}}}StatusCode"
    )
    return str(code.get("Value"))[:256] if code is not None and code.get("Value") else None


def send_logout(post: Callable[[str, bytes], bytes | None], message: SoapMessage) -> bool:
    """POST ``message`` with ``post(url, body) -> answer or None`` (the outbound HTTP
    client); True when the SP answered a LogoutResponse with status Success."""
    try:
        answer = post(message.url, message.body)
    except Exception:  # a background job: log, never raise
        log.exception("SOAP logout to %s failed", message.sp_entity_id)
        return False
    if answer is None:
        return False
    status = answer_status(answer)
    if status != STATUS_SUCCESS:
        log.warning("SOAP logout to %s answered %s", message.sp_entity_id, status or "no status")
        return False
    return True
