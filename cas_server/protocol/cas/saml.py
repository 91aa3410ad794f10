"""SAML 1.1 ticket validation: the /samlValidate request and response (CAS 3.0 section 4.2).

The request (4.2.2-4.2.4) is a SOAP 1.1 envelope holding a SAML 1.1
``samlp:Request`` whose ``samlp:AssertionArtifact`` is the service ticket. It
is read with a hardened lxml parser: no DTD, no entities, no network, bounded
size. The response (4.2.5) has the shape of the spec's example, which is what
Apereo CAS produces; like :mod:`.responses` it is built as an escaped string.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from lxml import etree

from .assertion import Assertion, iso8601
from .errors import CasError
from .responses import released_attributes, safe_user, xml_attr, xml_text
from .tickets import PASSWORD_ONLY

SOAP_ENV_NAMESPACE = "http://schemas.xmlsoap.org/soap/envelope/"
SAMLP_NAMESPACE = "urn:oasis:names:tc:SAML:1.0:protocol"
SAML_NAMESPACE = "urn:oasis:names:tc:SAML:1.0:assertion"
CAS_ATTRIBUTE_NAMESPACE = "http://www.ja-sig.org/products/cas/"
CONFIRMATION_ARTIFACT = "urn:oasis:names:tc:SAML:1.0:cm:artifact"
AUTH_METHOD_PASSWORD = "urn:oasis:names:tc:SAML:1.0:am:password"  # noqa: S105 - a URI
# SAML 1.1 has no URI for a password and a second factor together; the
# attributes (authenticationMethod, authnContextClass) say which.
AUTH_METHOD_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.0:am:unspecified"

SAML_CONTENT_TYPE = "text/xml; charset=utf-8"
MAX_REQUEST_BYTES = 64 * 1024

_REQUEST_TAG = f"{{{SAMLP_NAMESPACE}}}Request"
_ARTIFACT_TAG = f"{{{SAMLP_NAMESPACE}}}AssertionArtifact"

_ENVELOPE_OPEN = (
    f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP_ENV_NAMESPACE}"><SOAP-ENV:Header/><SOAP-ENV:Body>'
)
_ENVELOPE_CLOSE = "</Response></SOAP-ENV:Body></SOAP-ENV:Envelope>"
# ``samlp:`` must be bound: StatusCode values are QNames such as samlp:Success.
_RESPONSE_NAMESPACES = (
    f'xmlns="{SAMLP_NAMESPACE}" xmlns:saml="{SAML_NAMESPACE}" xmlns:samlp="{SAMLP_NAMESPACE}" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
)


class SamlRequestError(ValueError):
    """The /samlValidate body is not a usable SAML 1.1 request (4.2.2, 4.2.3)."""


@dataclass(frozen=True)
class SamlRequest:
    """The values of a SAML 1.1 request that CAS uses (4.2.3)."""

    ticket: str
    request_id: str
    issue_instant: str


def _parser() -> etree.XMLParser:
    # One per call: lxml parser objects must not be shared between threads.
    return etree.XMLParser(
        encoding="utf-8",
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_saml_request(body: bytes) -> SamlRequest:
    """Read the ticket, RequestID and IssueInstant of a /samlValidate body (4.2.2-4.2.4).

    Raises :class:`SamlRequestError` for an empty, oversized, non-UTF-8 or
    malformed body, any document type declaration, a missing or repeated
    ``Request`` or ``AssertionArtifact`` (SAML 1.0 protocol namespace), an empty
    artifact, or a major version other than 1.

    ``RequestID`` and ``IssueInstant`` may be missing (then empty): Apache's
    mod_auth_cas 1.2 sends neither, and Apereo CAS reads only the artifact.
    The response then has no ``InResponseTo``.
    """
    if len(body) > MAX_REQUEST_BYTES:
        raise SamlRequestError(f"SAML request larger than {MAX_REQUEST_BYTES} bytes")
    if not body.strip():
        raise SamlRequestError("empty SAML request body")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SamlRequestError("SAML request body is not valid UTF-8") from None
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise SamlRequestError("SAML request must not contain a document type declaration")
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError:
        raise SamlRequestError("SAML request body is not well-formed XML") from None
    if root.getroottree().docinfo.doctype:
        raise SamlRequestError("SAML request must not contain a document type declaration")

    requests = list(root.iter(_REQUEST_TAG))
    if len(requests) != 1:
        found = "no" if not requests else "more than one"
        raise SamlRequestError(f"{found} samlp:Request element ({SAMLP_NAMESPACE})")
    request = requests[0]
    major = request.get("MajorVersion")
    if major is not None and major.strip() != "1":
        raise SamlRequestError(f"unsupported SAML MajorVersion {major[:16]!r}")
    request_id = (request.get("RequestID") or "").strip()
    issue_instant = (request.get("IssueInstant") or "").strip()

    artifacts = request.findall(_ARTIFACT_TAG)
    if len(artifacts) != 1:
        found = "no" if not artifacts else "more than one"
        raise SamlRequestError(f"{found} samlp:AssertionArtifact in samlp:Request")
    artifact = artifacts[0]
    if len(artifact):
        raise SamlRequestError("samlp:AssertionArtifact must contain text only")
    ticket = (artifact.text or "").strip()
    if not ticket:
        raise SamlRequestError("samlp:AssertionArtifact is empty")
    return SamlRequest(ticket=ticket, request_id=request_id, issue_instant=issue_instant)


def _new_id() -> str:
    """A fresh ResponseID / AssertionID: an NCName with 128 random bits."""
    return "_" + secrets.token_hex(16)


def _response_open(*, request_id: str, now: float, recipient: str | None) -> str:
    parts = [
        _ENVELOPE_OPEN,
        f"<Response {_RESPONSE_NAMESPACES}",
        f' IssueInstant="{iso8601(now)}" MajorVersion="1" MinorVersion="1"',
        f' ResponseID="{_new_id()}"',
    ]
    if request_id:
        parts.append(f' InResponseTo="{xml_attr(request_id)}"')
    if recipient is not None:
        parts.append(f' Recipient="{xml_attr(recipient)}"')
    parts.append(">")
    return "".join(parts)


def _subject(user: str) -> str:
    return (
        f"<Subject><NameIdentifier>{xml_text(user)}</NameIdentifier>"
        f"<SubjectConfirmation><ConfirmationMethod>{CONFIRMATION_ARTIFACT}"
        "</ConfirmationMethod></SubjectConfirmation></Subject>"
    )


def saml_success(
    assertion: Assertion,
    *,
    request_id: str,
    now: float,
    issuer: str,
    ticket_lifetime: float = 30,
) -> str:
    """A SAML 1.1 Response with status ``samlp:Success`` and one Assertion (4.2.5, 4.2.5.1).

    The Assertion is valid from ``now`` for ``ticket_lifetime`` seconds, for the
    audience ``assertion.service`` (also the Response's Recipient). Its
    AttributeStatement carries every released attribute, protocol attributes
    included (``longTermAuthenticationRequestTokenUsed``, 4.2.5.1, and how
    the person signed in: ``authenticationMethod``, ``authnContextClass``…),
    one AttributeValue per value; the AuthenticationStatement gives the
    login time, and the method when it was the password alone.
    """
    user = safe_user(assertion.user)
    subject = _subject(user)
    parts = [
        _response_open(request_id=request_id, now=now, recipient=assertion.service),
        '<Status><StatusCode Value="samlp:Success"/></Status>',
        f'<Assertion xmlns="{SAML_NAMESPACE}" AssertionID="{_new_id()}"',
        f' IssueInstant="{iso8601(now)}" Issuer="{xml_attr(issuer)}"',
        ' MajorVersion="1" MinorVersion="1">',
        f'<Conditions NotBefore="{iso8601(now)}" NotOnOrAfter="{iso8601(now + ticket_lifetime)}">',
        f"<AudienceRestrictionCondition><Audience>{xml_text(assertion.service)}</Audience>",
        "</AudienceRestrictionCondition></Conditions>",
    ]
    method = AUTH_METHOD_PASSWORD if assertion.methods == PASSWORD_ONLY else AUTH_METHOD_UNSPECIFIED
    attributes = released_attributes(assertion)
    if attributes:
        parts.append("<AttributeStatement>")
        parts.append(subject)
        for name, values in attributes:
            parts.append(
                f'<Attribute AttributeName="{xml_attr(name)}"'
                f' AttributeNamespace="{CAS_ATTRIBUTE_NAMESPACE}">'
            )
            for value in values:
                parts.append(f"<AttributeValue>{xml_text(value)}</AttributeValue>")
            parts.append("</Attribute>")
        parts.append("</AttributeStatement>")
    parts.append(
        f'<AuthenticationStatement AuthenticationInstant="{iso8601(assertion.authenticated_at)}"'
        f' AuthenticationMethod="{method}">'
    )
    parts.append(subject)
    parts.append("</AuthenticationStatement></Assertion>")
    parts.append(_ENVELOPE_CLOSE)
    return "".join(parts)


def saml_failure(error: CasError, *, request_id: str, now: float) -> str:
    """A SAML 1.1 Response without Assertion, saying why validation failed (4.2.5).

    The top-level StatusCode is ``samlp:Responder`` for ``INTERNAL_ERROR`` (the
    server's fault) and ``samlp:Requester`` otherwise; ``StatusMessage`` holds
    the error message. ``InResponseTo`` is left out when the
    request could not be read (empty ``request_id``).
    """
    status = "samlp:Responder" if error.code == "INTERNAL_ERROR" else "samlp:Requester"
    return (
        _response_open(request_id=request_id, now=now, recipient=None)
        + f'<Status><StatusCode Value="{status}"/>'
        + f"<StatusMessage>{xml_text(error.message)}</StatusMessage>"
        + "</Status>"
        + _ENVELOPE_CLOSE
    )
