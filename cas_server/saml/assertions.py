"""The messages we send: ``samlp:Response`` with its assertion (SAML core 2.3.3, 3.3.3;
profiles 4.1.4.2 for Web Browser SSO), ``samlp:LogoutRequest`` and ``LogoutResponse``
(core 3.7).

An assertion carries one bearer SubjectConfirmation whose data names the ACS
(``Recipient``), the request (``InResponseTo``) and a short ``NotOnOrAfter``; its
Conditions restrict the audience to the SP's entity id. It is signed, then encrypted
when asked, and the Response is signed too (SAML2Int).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from ..protocol.saml2.attributes import by_name
from ..protocol.saml2.errors import STATUS_SUCCESS
from .idp_metadata import iso
from .signing import DS_NS, add_signature_template, encrypt_element, sign_node

SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
XS_NS = "http://www.w3.org/2001/XMLSchema"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
URI_FORMAT = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
NSMAP = {"samlp": SAMLP_NS, "saml": SAML_NS}


def new_id() -> str:
    """An xs:ID (an NCName: it must not start with a digit) with 160 random bits."""
    return "_" + secrets.token_hex(20)


@dataclass(frozen=True)
class Signer:
    """Our signing pair: the key file and the certificate's base64 body."""

    key_file: str
    cert_b64: str


def _saml(parent: Any, name: str, text: str | None = None, **attrs: str) -> Any:
    element = etree.SubElement(parent, f"{{{SAML_NS}}}{name}", attrs)
    if text is not None:
        element.text = text
    return element


def _samlp(parent: Any, name: str, **attrs: str) -> Any:
    return etree.SubElement(parent, f"{{{SAMLP_NS}}}{name}", attrs)


def _message(name: str, issuer: str, now: float, destination: str, **attrs: str) -> Any:
    root = etree.Element(f"{{{SAMLP_NS}}}{name}", nsmap=NSMAP)
    root.set("ID", new_id())
    root.set("Version", "2.0")
    root.set("IssueInstant", iso(now))
    root.set("Destination", destination)
    for key, value in attrs.items():
        root.set(key, value)
    _saml(root, "Issuer", issuer)
    return root


def _status(parent: Any, status: str, substatus: str | None = None) -> None:
    element = _samlp(parent, "Status")
    code = _samlp(element, "StatusCode", Value=status)
    if substatus:
        _samlp(code, "StatusCode", Value=substatus)


def _serialize(root: Any) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _sign(root: Any, node: Any, signer: Signer) -> None:
    add_signature_template(node, signer.cert_b64, after=("Issuer",))
    sign_node(node, signer.key_file)


@dataclass(frozen=True)
class Subject:
    name_id: str
    name_id_format: str
    sp_entity_id: str
    idp_entity_id: str


def _name_id(parent: Any, subject: Subject) -> None:
    _saml(
        parent,
        "NameID",
        subject.name_id,
        Format=subject.name_id_format,
        NameQualifier=subject.idp_entity_id,
        SPNameQualifier=subject.sp_entity_id,
    )


# Characters XML 1.0 cannot carry (section 2.2): a value holding one is left out.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _attributes(parent: Any, attributes: Mapping[str, Sequence[str]]) -> None:
    statement = None
    for friendly, given in attributes.items():
        known = by_name(friendly)
        values = [v for v in given if isinstance(v, str) and not _NOT_XML.search(v)]
        if known is None or not values:
            continue
        if statement is None:
            statement = _saml(parent, "AttributeStatement")
        attribute = _saml(
            statement,
            "Attribute",
            Name=known.name,
            NameFormat=known.name_format or URI_FORMAT,
            FriendlyName=known.friendly_name,
        )
        for value in values:
            element = etree.SubElement(
                attribute, f"{{{SAML_NS}}}AttributeValue", nsmap={"xs": XS_NS, "xsi": XSI_NS}
            )
            element.set(f"{{{XSI_NS}}}type", "xs:string")
            element.text = value


def authn_response(
    *,
    signer: Signer,
    subject: Subject,
    acs_url: str,
    in_response_to: str | None,
    attributes: Mapping[str, Sequence[str]],
    authn_context: str,
    authn_instant: float,
    session_index: str,
    now: float,
    lifetime: float,
    encrypt_for: tuple[str, str] | None,
) -> bytes:
    """A signed Response with one signed (and, with ``encrypt_for`` = (PEM, algorithm),
    encrypted) assertion."""
    extra = {"InResponseTo": in_response_to} if in_response_to else {}
    root = _message("Response", subject.idp_entity_id, now, acs_url, **extra)
    _status(root, STATUS_SUCCESS)
    assertion = _saml(root, "Assertion", ID=new_id(), Version="2.0", IssueInstant=iso(now))
    _saml(assertion, "Issuer", subject.idp_entity_id)
    subject_element = _saml(assertion, "Subject")
    _name_id(subject_element, subject)
    confirmation = _saml(subject_element, "SubjectConfirmation", Method=BEARER)
    _saml(
        confirmation,
        "SubjectConfirmationData",
        NotOnOrAfter=iso(now + lifetime),
        Recipient=acs_url,
        **extra,
    )
    conditions = _saml(
        assertion, "Conditions", NotBefore=iso(now), NotOnOrAfter=iso(now + lifetime)
    )
    restriction = _saml(conditions, "AudienceRestriction")
    _saml(restriction, "Audience", subject.sp_entity_id)
    statement = _saml(
        assertion, "AuthnStatement", AuthnInstant=iso(authn_instant), SessionIndex=session_index
    )
    context = _saml(statement, "AuthnContext")
    _saml(context, "AuthnContextClassRef", authn_context)
    _attributes(assertion, attributes)
    _sign(root, assertion, signer)
    if encrypt_for is not None:
        cert_pem, algorithm = encrypt_for
        encrypt_element(assertion, cert_pem, algorithm)
    _sign(root, root, signer)
    return _serialize(root)


def status_response(
    *,
    signer: Signer,
    issuer: str,
    destination: str,
    in_response_to: str | None,
    status: str,
    substatus: str | None,
    now: float,
    name: str = "Response",
    sign: bool = True,
) -> bytes:
    """A Response (an error: no assertion) or a LogoutResponse with only a status."""
    extra = {"InResponseTo": in_response_to} if in_response_to else {}
    root = _message(name, issuer, now, destination, **extra)
    _status(root, status, substatus)
    if sign:
        _sign(root, root, signer)
    return _serialize(root)


def logout_request(
    *,
    signer: Signer | None,
    subject: Subject,
    destination: str,
    session_index: str,
    now: float,
    lifetime: float,
) -> tuple[str, bytes]:
    """A LogoutRequest (its ID and XML), XML-signed when ``signer`` is given (POST)."""
    root = _message("LogoutRequest", subject.idp_entity_id, now, destination)
    root.set("NotOnOrAfter", iso(now + lifetime))
    root.set("Reason", "urn:oasis:names:tc:SAML:2.0:logout:user")
    _name_id(root, subject)
    etree.SubElement(root, f"{{{SAMLP_NS}}}SessionIndex").text = session_index
    if signer is not None:
        _sign(root, root, signer)
    return str(root.get("ID")), _serialize(root)


__all__ = ["DS_NS", "Signer", "Subject", "authn_response", "logout_request", "status_response"]
