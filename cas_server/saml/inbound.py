"""Reading what SPs send: ``AuthnRequest`` (SAML core 3.4.1), ``LogoutRequest`` and
``LogoutResponse`` (core 3.7), each checked before anything is believed.

Order: decode (size caps) → parse (no DTD) → root element, Version, ID → Issuer →
the SP's trusted metadata (else UnknownServiceProvider) → signature with the keys of
that metadata only → Destination → IssueInstant → the fields. Anything wrong is
:class:`BadRequest`. Data is read from the root element only: a signature is
accepted only when it is the root's own, over the root (no signature wrapping).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT

from ..protocol.saml2.errors import BadRequest
from ..protocol.saml2.requests import REQUEST_ID_WINDOW, AuthnRequestInfo
from .decryption import decrypt_name_id
from .entities import choose_consumer
from .messages import decode_message, verify_redirect
from .signing import DS_NS, UnsafeXml, parse_xml, public_key, verify_element

SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
SAMLP_NS = "urn:oasis:names:tc:SAML:2.0:protocol"
MAX_TEXT = 1024


@dataclass(frozen=True)
class LogoutRequestInfo:
    sp_entity_id: str
    request_id: str
    name_id: str
    name_id_format: str | None
    session_indexes: tuple[str, ...]
    relay_state: str | None
    binding: str


@dataclass(frozen=True)
class LogoutResponseInfo:
    sp_entity_id: str
    in_response_to: str | None
    status: str
    relay_state: str | None


@dataclass(frozen=True)
class Transport:
    """One message as the web layer received it."""

    binding: str
    message: str | None
    relay_state: str | None
    sig_alg: str | None = None
    signature: str | None = None
    query_string: str | None = None


@dataclass(frozen=True)
class Message:
    root: Any
    issuer: str
    signed: bool


def text_of(element: Any, name: str, ns: str = SAML_NS) -> str | None:
    found = element.find(f"{{{ns}}}{name}")
    if found is None:
        return None
    value = "".join(found.itertext()).strip()
    if len(value) > MAX_TEXT or any(ord(ch) < 32 for ch in value):
        raise BadRequest(f"bad {name} value")
    return value


def boolean(element: Any, attribute: str, default: bool = False) -> bool:
    value = element.get(attribute)
    if value is None:
        return default
    if value.strip() in ("true", "1"):
        return True
    if value.strip() in ("false", "0"):
        return False
    raise BadRequest(f"{attribute} is not an xs:boolean")


def instant(value: str | None, what: str) -> float:
    if not value:
        raise BadRequest(f"no {what}")
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadRequest(f"unreadable {what}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def check_issue_instant(root: Any, now: float, skew: float) -> float:
    """IssueInstant within the clock skew ahead, and young enough behind that a replay
    of it must come while its ID is still remembered: accepted when seen at ``n`` with
    ``n - t < W - skew`` and ``t < n + skew``, a copy seen after ``n + W`` is older than
    ``W - skew`` (profiles 4.1.4.5, core 1.3.3)."""
    issued = instant(root.get("IssueInstant"), "IssueInstant")
    if issued > now + skew:
        raise BadRequest("IssueInstant in the future")
    if issued <= now - max(REQUEST_ID_WINDOW - skew, 60.0):
        raise BadRequest("IssueInstant too old")
    return issued


def read(
    transport: Transport,
    param: str,
    expected: str,
    entity_for: Any,
    certificates_for: Any,
    *,
    destination: str,
    must_sign: Any,
) -> tuple[Message, Mapping[str, Any]]:
    """The checked root element of a message and the sender's metadata entry.

    ``entity_for(issuer)`` gives the metadata entry (raising UnknownServiceProvider),
    ``certificates_for(entry)`` its signing certificates, ``must_sign(entry)`` whether
    an unsigned message is refused."""
    xml = decode_message(transport.binding, transport.message)
    try:
        root = parse_xml(xml)
    except UnsafeXml as exc:
        raise BadRequest(str(exc)) from exc
    if root.tag != f"{{{SAMLP_NS}}}{expected}":
        raise BadRequest(f"not a {expected}")
    if root.get("Version") != "2.0":
        raise BadRequest("Version is not 2.0")
    identifier = root.get("ID")
    if not identifier or len(identifier) > 256:
        raise BadRequest("missing or oversized ID")
    issuer = text_of(root, "Issuer")
    if not issuer:
        raise BadRequest("no Issuer")
    entity = entity_for(issuer)
    certificates: Sequence[str] = certificates_for(entity)
    signed = _check_signature(transport, param, root, certificates)
    if not signed and must_sign(entity):
        raise BadRequest("the request must be signed")
    given = root.get("Destination")
    if given is not None and given != destination:
        raise BadRequest("Destination is not this endpoint")
    if signed and given is None:
        raise BadRequest("a signed message must name its Destination")  # bindings 3.4.5.2
    return Message(root, issuer, signed), entity


def _check_signature(
    transport: Transport, param: str, root: Any, certificates: Sequence[str]
) -> bool:
    if transport.binding == BINDING_HTTP_REDIRECT:
        query = transport.query_string or ""
        present = "Signature=" in query or bool(transport.sig_alg and transport.signature)
        if not present:
            return False
        assert transport.message is not None
        if not verify_redirect(
            param,
            transport.message,
            transport.relay_state,
            transport.sig_alg,
            transport.signature,
            transport.query_string,
            certificates,
        ):
            raise BadRequest("Redirect signature does not verify with the SP's keys")
        return True
    if transport.binding != BINDING_HTTP_POST:
        raise BadRequest("unsupported binding")
    if root.find(f"{{{DS_NS}}}Signature") is None:
        return False
    for pem in certificates:
        try:
            key = public_key(pem, is_file=False)
        except Exception:  # an unreadable certificate in metadata: try the next one
            key = None
        if key is not None and verify_element(root, key):
            return True
    raise BadRequest("XML signature does not verify with the SP's keys")


def authn_request_info(
    message: Message, entity: Mapping[str, Any], relay_state: str | None
) -> AuthnRequestInfo:
    """What the rules need of a checked AuthnRequest (core 3.4.1); the ACS from metadata."""
    root = message.root
    acs = choose_consumer(
        entity,
        root.get("AssertionConsumerServiceURL"),
        root.get("AssertionConsumerServiceIndex"),
        root.get("ProtocolBinding"),
    )
    policy = root.find(f"{{{SAMLP_NS}}}NameIDPolicy")
    name_id_format = policy.get("Format") if policy is not None else None
    allow_create = boolean(policy, "AllowCreate", True) if policy is not None else True
    contexts: tuple[str, ...] = ()
    comparison = "exact"
    requested = root.find(f"{{{SAMLP_NS}}}RequestedAuthnContext")
    if requested is not None:
        comparison = requested.get("Comparison", "exact")
        # Only class references are understood; a DeclRef stays in the list, so that
        # the rules find it unmet (NoAuthnContext) rather than ignore it.
        contexts = tuple(
            "".join(ref.itertext()).strip()[:1024]
            for ref in requested
            if isinstance(ref.tag, str)
            and ref.tag
            in (f"{{{SAML_NS}}}AuthnContextClassRef", f"{{{SAML_NS}}}AuthnContextDeclRef")
        )
    return AuthnRequestInfo(
        sp_entity_id=message.issuer,
        request_id=root.get("ID"),
        acs_url=acs.location,
        acs_binding=acs.binding,
        relay_state=relay_state,
        force_authn=boolean(root, "ForceAuthn"),
        is_passive=boolean(root, "IsPassive"),
        name_id_format=name_id_format,
        allow_create=allow_create,
        requested_contexts=contexts,
        comparison=comparison,
        issue_instant=instant(root.get("IssueInstant"), "IssueInstant"),
    )


def _identifier(message: Message, decryption_keys: Sequence[str]) -> Any:
    """The one identifier of a LogoutRequest (core 3.7.1: BaseID, NameID or
    EncryptedID), an EncryptedID decrypted (only in a signed message: never an
    oracle for strangers) into the NameID it must hold."""
    root = message.root
    found = [
        child
        for child in root
        if isinstance(child.tag, str)
        and child.tag in (f"{{{SAML_NS}}}{n}" for n in ("BaseID", "NameID", "EncryptedID"))
    ]
    if len(found) != 1:
        raise BadRequest(f"LogoutRequest with {len(found)} identifiers (one NameID is needed)")
    (element,) = found
    if element.tag == f"{{{SAML_NS}}}NameID":
        return element
    if element.tag == f"{{{SAML_NS}}}BaseID":
        raise BadRequest("LogoutRequest with a BaseID")
    if not message.signed:
        raise BadRequest("an EncryptedID must come in a signed LogoutRequest")
    return decrypt_name_id(element, decryption_keys)


def logout_request_info(
    message: Message,
    relay_state: str | None,
    binding: str,
    earliest: float,
    decryption_keys: Sequence[str] = (),
) -> LogoutRequestInfo:
    """A checked LogoutRequest (core 3.7.1), refused past its NotOnOrAfter; an
    EncryptedID is decrypted with ``decryption_keys`` (our private key files)."""
    root = message.root
    if root.get("NotOnOrAfter") and instant(root.get("NotOnOrAfter"), "NotOnOrAfter") <= (earliest):
        raise BadRequest("LogoutRequest expired")
    name_id = _identifier(message, decryption_keys)
    value = "".join(name_id.itertext()).strip()
    if len(value) > MAX_TEXT or any(ord(ch) < 32 for ch in value):
        raise BadRequest("bad NameID value")
    if not value:
        raise BadRequest("empty NameID")
    indexes = tuple(
        "".join(e.itertext()).strip()[:256] for e in root.findall(f"{{{SAMLP_NS}}}SessionIndex")
    )
    if relay_state is not None and len(relay_state.encode()) > 1024:
        raise BadRequest("RelayState over 1024 bytes")
    return LogoutRequestInfo(
        sp_entity_id=message.issuer,
        request_id=str(root.get("ID")),
        name_id=value,
        name_id_format=name_id.get("Format"),
        session_indexes=indexes,
        relay_state=relay_state,
        binding=binding,
    )


def logout_response_info(message: Message, relay_state: str | None) -> LogoutResponseInfo:
    root = message.root
    code = root.find(f"{{{SAMLP_NS}}}Status/{{{SAMLP_NS}}}StatusCode")
    status = code.get("Value") if code is not None else None
    if not status:
        raise BadRequest("LogoutResponse without a StatusCode")
    return LogoutResponseInfo(
        sp_entity_id=message.issuer,
        in_response_to=root.get("InResponseTo"),
        status=status[:256],
        relay_state=relay_state,
    )
