"""CAS response documents: /validate text, serviceResponse XML and JSON.

CAS Protocol 3.0 sections 2.4.2 (/validate), 2.5.2 and 2.5.7 (/serviceValidate,
/p3/serviceValidate), 2.6.2 (/proxyValidate), 2.7.2 (/proxy), 2.5.1 (``format``)
and Appendix A (the XML schema: child order, namespaces).

Documents are built by string concatenation, not by XML trees: every service
page load validates a ticket, and this is the hot path. Every value is escaped
here, and characters XML 1.0 cannot carry are removed, so that the documents
are always well-formed whatever the attribute store returns. The escaping
helpers are public: :mod:`.saml` and :mod:`.slo` build their documents with them.
"""

from __future__ import annotations

import json
import re
from typing import Any

# bandit B406 warns about parsing XML with the standard library: escape() parses nothing.
from xml.sax.saxutils import escape  # nosec B406

from .assertion import Assertion
from .errors import CasError, InternalError, InvalidRequest

CAS_NAMESPACE = "http://www.yale.edu/tp/cas"

XML_CONTENT_TYPE = "application/xml; charset=utf-8"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"

FORMATS = ("XML", "JSON")

# Everything outside the XML 1.0 ``Char`` production: C0 controls other than
# tab/LF/CR, lone surrogates, U+FFFE and U+FFFF.
_ILLEGAL_XML_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# A principal id is an identity: it is refused, never silently altered.
_UNSAFE_USER_CHARS = re.compile("[\n\r]|" + _ILLEGAL_XML_CHARS.pattern)
_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*")
# CR would be normalised to LF by parsers, and tab/LF/CR in attribute values to
# spaces: character references keep the value intact.
_TEXT_ENTITIES = {"\r": "&#13;"}
_ATTR_ENTITIES = {'"': "&quot;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}

_OPEN = f'<cas:serviceResponse xmlns:cas="{CAS_NAMESPACE}">'
_CLOSE = "</cas:serviceResponse>"


def xml_text(value: str) -> str:
    """``value`` as XML character data: illegal characters removed, ``& < >`` escaped."""
    if not (value.isascii() and value.isprintable()):
        value = _ILLEGAL_XML_CHARS.sub("", value)
    return escape(value, _TEXT_ENTITIES)


def xml_attr(value: str) -> str:
    """``value`` for a double-quoted XML attribute (quotes and whitespace escaped too)."""
    if not (value.isascii() and value.isprintable()):
        value = _ILLEGAL_XML_CHARS.sub("", value)
    return escape(value, _ATTR_ENTITIES)


def is_xml_name(name: str) -> bool:
    """Whether ``name`` can be an element name such as ``cas:NAME`` (Appendix A, ``xs:any``)."""
    return _XML_NAME.fullmatch(name) is not None


def safe_user(user: str) -> str:
    """The principal id, checked to be representable exactly in every format (2.4.2, 2.5.2).

    Stripping characters from an identity could turn one user into another, so a
    principal id that is empty, holds a line break (which would forge the second
    line of a /validate answer) or a character XML cannot carry is refused with
    ``INTERNAL_ERROR`` instead.
    """
    if not user or _UNSAFE_USER_CHARS.search(user):
        raise InternalError("the principal id cannot be represented in a CAS response")
    return user


def released_attributes(assertion: Assertion) -> list[tuple[str, tuple[str, ...]]]:
    """Attributes to put in a response, in the Appendix A order.

    The three protocol attributes come first (the schema's ``AttributesType``
    sequence), then the released ones. Names that are not XML names and
    attributes without any value are left out, in every format alike.
    """
    merged = assertion.all_attributes()
    protocol = [name for name in assertion.protocol_attributes() if name in merged]
    names = protocol + [name for name in merged if name not in protocol]
    return [(name, merged[name]) for name in names if merged[name] and is_xml_name(name)]


def parse_format(value: str | None) -> str:
    """The ``format`` parameter of 2.5.1: XML (default) or JSON, case-insensitive.

    Any other value raises :class:`InvalidRequest`, since 2.5.1 says an
    unsupported format MUST produce an error code.
    """
    if not value:
        return "XML"
    if value.isascii() and value.upper() in FORMATS:
        return value.upper()
    shown = value if len(value) <= 32 else value[:32] + "..."
    raise InvalidRequest(f"unsupported format {shown!r}: supported values are XML and JSON")


def _check_format(fmt: str) -> bool:
    """True for JSON, False for XML; anything else is a programming error."""
    if fmt == "JSON":
        return True
    if fmt == "XML":
        return False
    raise ValueError(f"unknown response format {fmt!r}; use parse_format()")


def _json(body: dict[str, Any]) -> str:
    return json.dumps({"serviceResponse": body})


def validate_success(user: str) -> str:
    """CAS 1.0 /validate success (2.4.2): ``yes`` LF username LF."""
    return f"yes\n{safe_user(user)}\n"


def validate_failure() -> str:
    """CAS 1.0 /validate failure (2.4.2): ``no`` LF LF."""
    return "no\n\n"


def service_response_success(
    assertion: Assertion, *, with_attributes: bool, fmt: str = "XML"
) -> str:
    """``authenticationSuccess`` for /serviceValidate, /proxyValidate and /p3 (2.5.2, 2.6.2, 2.8).

    Children in Appendix A order: user, attributes (only when
    ``with_attributes``, i.e. the /p3 endpoints, 2.5.7), proxyGrantingTicket
    (only with a PGT IOU, 2.5.4), proxies (most recently visited first, 2.6.2).
    In JSON a single-valued attribute is a string and a multi-valued one a
    list (2.5.7); absent parts are left out.
    """
    user = safe_user(assertion.user)
    attributes = released_attributes(assertion) if with_attributes else []
    if _check_format(fmt):
        success: dict[str, Any] = {"user": user}
        if attributes:
            success["attributes"] = {
                name: values[0] if len(values) == 1 else list(values) for name, values in attributes
            }
        if assertion.pgt_iou:
            success["proxyGrantingTicket"] = assertion.pgt_iou
        if assertion.proxies:
            success["proxies"] = list(assertion.proxies)
        return _json({"authenticationSuccess": success})

    parts = [_OPEN, "<cas:authenticationSuccess><cas:user>", xml_text(user), "</cas:user>"]
    if attributes:
        parts.append("<cas:attributes>")
        for name, values in attributes:
            for value in values:
                parts.append(f"<cas:{name}>{xml_text(value)}</cas:{name}>")
        parts.append("</cas:attributes>")
    if assertion.pgt_iou:
        parts.append(
            f"<cas:proxyGrantingTicket>{xml_text(assertion.pgt_iou)}</cas:proxyGrantingTicket>"
        )
    if assertion.proxies:
        parts.append("<cas:proxies>")
        for proxy in assertion.proxies:
            parts.append(f"<cas:proxy>{xml_text(proxy)}</cas:proxy>")
        parts.append("</cas:proxies>")
    parts.append("</cas:authenticationSuccess>")
    parts.append(_CLOSE)
    return "".join(parts)


def _failure(element: str, error: CasError, fmt: str) -> str:
    if _check_format(fmt):
        # 2.5.2 and 2.7.2 both show ``authenticationFailure`` in JSON.
        return _json({"authenticationFailure": {"code": error.code, "description": error.message}})
    return (
        f'{_OPEN}<cas:{element} code="{xml_attr(error.code)}">'
        f"{xml_text(error.message)}</cas:{element}>{_CLOSE}"
    )


def service_response_failure(error: CasError, fmt: str = "XML") -> str:
    """``authenticationFailure`` with the error code and message (2.5.2, 2.5.3, 2.6.2)."""
    return _failure("authenticationFailure", error, fmt)


def proxy_success(proxy_ticket: str, fmt: str = "XML") -> str:
    """``proxySuccess`` carrying the new proxy ticket (2.7.2)."""
    if _check_format(fmt):
        return _json({"proxySuccess": {"proxyTicket": proxy_ticket}})
    return (
        f"{_OPEN}<cas:proxySuccess><cas:proxyTicket>{xml_text(proxy_ticket)}"
        f"</cas:proxyTicket></cas:proxySuccess>{_CLOSE}"
    )


def proxy_failure(error: CasError, fmt: str = "XML") -> str:
    """``proxyFailure`` with the error code and message (2.7.2, 2.7.3).

    In JSON the key is ``authenticationFailure``, as in the spec's /proxy example (2.7.2).
    """
    return _failure("proxyFailure", error, fmt)
