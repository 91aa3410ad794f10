"""CAS 1.0/2.0/3.0 response documents (cas_server.protocol.cas.responses)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lxml import etree  # type: ignore[import-untyped]

from cas_server.protocol.cas import errors
from cas_server.protocol.cas.assertion import Assertion
from cas_server.protocol.cas.responses import (
    FORMATS,
    JSON_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    XML_CONTENT_TYPE,
    is_xml_name,
    parse_format,
    proxy_failure,
    proxy_success,
    service_response_failure,
    service_response_success,
    validate_failure,
    validate_success,
    xml_attr,
    xml_text,
)

CAS = "http://www.yale.edu/tp/cas"
NOW = 1_763_819_100.0  # 2025-11-22T13:45:00Z
HOSTILE = "<script>alert('x')</script> & \"quoted\" ]]> done"

ERROR_CLASSES = [
    (errors.InvalidRequest, "INVALID_REQUEST"),
    (errors.InvalidTicketSpec, "INVALID_TICKET_SPEC"),
    (errors.UnauthorizedServiceProxy, "UNAUTHORIZED_SERVICE_PROXY"),
    (errors.InvalidProxyCallback, "INVALID_PROXY_CALLBACK"),
    (errors.InvalidTicket, "INVALID_TICKET"),
    (errors.InvalidService, "INVALID_SERVICE"),
    (errors.UnauthorizedService, "UNAUTHORIZED_SERVICE"),
    (errors.InternalError, "INTERNAL_ERROR"),
]


# How the person signed in (issue 14), after Appendix A's three: a password here.
SIGN_IN_XML = (
    ("authenticationMethod", "password"),
    ("successfulAuthenticationHandlers", "PasswordAuthenticationHandler"),
    ("authnContextClass", "https://refeds.org/profile/sfa"),
)
PROTOCOL = 3 + len(SIGN_IN_XML)  # protocol attributes before the released ones


def q(name: str) -> str:
    return f"{{{CAS}}}{name}"


def parse(document: str) -> Any:
    root = etree.fromstring(document.encode("utf-8"))
    assert root.tag == q("serviceResponse")
    assert root.prefix == "cas"
    assert root.nsmap == {"cas": CAS}
    return root


def local(element: Any) -> str:
    return str(etree.QName(element).localname)


def make(**kwargs: Any) -> Assertion:
    values: dict[str, Any] = {
        "user": "jdoe",
        "service": "https://app.example.org/",
        "authenticated_at": NOW,
    }
    values.update(kwargs)
    return Assertion(**values)


# -- /validate (2.4.2) ------------------------------------------------------------


def test_validate_success_is_yes_lf_user_lf() -> None:
    assert validate_success("jdoe") == "yes\njdoe\n"


def test_validate_failure_is_no_lf_lf() -> None:
    assert validate_failure() == "no\n\n"


@pytest.mark.parametrize("user", ["", "jdoe\nyes", "jdoe\r", "jd\x00oe", "jd\x1boe", "a\ud800"])
def test_unrepresentable_user_is_refused_not_altered(user: str) -> None:
    with pytest.raises(errors.InternalError) as info:
        validate_success(user)
    assert info.value.code == "INTERNAL_ERROR"
    for fmt in FORMATS:
        with pytest.raises(errors.InternalError):
            service_response_success(make(user=user), with_attributes=True, fmt=fmt)


# -- authenticationSuccess XML (2.5.2, 2.5.7, 2.6.2, Appendix A) -----------------------


def test_minimal_success_exact_document() -> None:
    assert service_response_success(make(), with_attributes=False) == (
        '<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">'
        "<cas:authenticationSuccess><cas:user>jdoe</cas:user></cas:authenticationSuccess>"
        "</cas:serviceResponse>"
    )


def test_full_success_children_in_schema_order() -> None:
    assertion = make(
        attributes={"mail": ("jdoe@example.org",), "affiliation": ("staff", "faculty")},
        pgt_iou="PGTIOU-84678-8a9d",
        proxies=("https://proxy2/pgtUrl", "https://proxy1/pgtUrl"),
        long_term=True,
        from_new_login=True,
    )
    root = parse(service_response_success(assertion, with_attributes=True))
    assert [local(c) for c in root] == ["authenticationSuccess"]
    success = root[0]
    assert [local(c) for c in success] == ["user", "attributes", "proxyGrantingTicket", "proxies"]
    assert all(c.prefix == "cas" and etree.QName(c).namespace == CAS for c in success.iter())
    assert success.findtext(q("user")) == "jdoe"
    attrs = [(local(c), c.text) for c in success.find(q("attributes"))]
    assert attrs == [
        ("authenticationDate", "2025-11-22T13:45:00Z"),
        ("longTermAuthenticationRequestTokenUsed", "true"),
        ("isFromNewLogin", "true"),
        *SIGN_IN_XML,
        ("mail", "jdoe@example.org"),
        ("affiliation", "staff"),
        ("affiliation", "faculty"),
    ]
    assert success.findtext(q("proxyGrantingTicket")) == "PGTIOU-84678-8a9d"
    proxies = [p.text for p in success.find(q("proxies"))]
    assert proxies == ["https://proxy2/pgtUrl", "https://proxy1/pgtUrl"]


def test_without_attributes_flag_no_attributes_element() -> None:
    assertion = make(attributes={"mail": ("a@b",)}, pgt_iou="PGTIOU-1")
    success = parse(service_response_success(assertion, with_attributes=False))[0]
    assert [local(c) for c in success] == ["user", "proxyGrantingTicket"]


def test_protocol_attributes_first_and_not_overridden() -> None:
    assertion = make(attributes={"zeta": ("z",), "isFromNewLogin": ("true",)})
    success = parse(service_response_success(assertion, with_attributes=True))[0]
    attrs = [(local(c), c.text) for c in success.find(q("attributes"))]
    assert attrs == [
        ("authenticationDate", "2025-11-22T13:45:00Z"),
        ("longTermAuthenticationRequestTokenUsed", "false"),
        ("isFromNewLogin", "false"),
        *SIGN_IN_XML,
        ("zeta", "z"),
    ]


def test_invalid_attribute_names_and_empty_values_are_skipped() -> None:
    attributes = {
        "good_name-1.x": ("ok",),
        "bad name": ("x",),
        "1digit": ("x",),
        "a:b": ("x",),
        "trailing\n": ("x",),
        "<evil>": ("x",),
        "": ("x",),
        "novalue": (),
    }
    assertion = make(attributes=attributes)
    success = parse(service_response_success(assertion, with_attributes=True))[0]
    names = [local(c) for c in success.find(q("attributes"))][PROTOCOL:]
    assert names == ["good_name-1.x"]
    body = json.loads(service_response_success(assertion, with_attributes=True, fmt="JSON"))
    json_names = list(body["serviceResponse"]["authenticationSuccess"]["attributes"])[PROTOCOL:]
    assert json_names == ["good_name-1.x"]


@pytest.mark.parametrize(
    ("name", "valid"),
    [("mail", True), ("_x", True), ("a.b-c_d9", True), ("9a", False), ("a b", False),
     ("a\n", False), ("é", False), ("-a", False), ("", False)],
)  # fmt: skip
def test_is_xml_name(name: str, valid: bool) -> None:
    assert is_xml_name(name) is valid


def test_hostile_values_are_escaped_and_round_trip() -> None:
    assertion = make(
        user=HOSTILE,
        attributes={"note": (HOSTILE, "tab\there", "cr\r\nlf", "emoji \U0001f600 ok")},
        pgt_iou="PGTIOU-<&>",
        proxies=('https://p/?a=1&b="2"',),
    )
    document = service_response_success(assertion, with_attributes=True)
    assert "<script>" not in document
    success = parse(document)[0]
    assert success.findtext(q("user")) == HOSTILE
    notes = [c.text for c in success.find(q("attributes")) if local(c) == "note"]
    assert notes == [HOSTILE, "tab\there", "cr\r\nlf", "emoji \U0001f600 ok"]
    assert success.findtext(q("proxyGrantingTicket")) == "PGTIOU-<&>"
    assert success.find(q("proxies"))[0].text == 'https://p/?a=1&b="2"'


def test_illegal_xml_characters_are_stripped_from_values() -> None:
    value = "a\x00b\x01c\x08d\x0be\x0cf\x1fg\ud800h\udfffi\ufffej\uffffk\x7fl"
    assertion = make(attributes={"x": (value,)}, proxies=("https://p/\x00",))
    document = service_response_success(assertion, with_attributes=True)
    success = parse(document)[0]  # well-formed, and encodable as UTF-8
    assert success.find(q("attributes"))[PROTOCOL].text == "abcdefghijk\x7fl"
    assert success.find(q("proxies"))[0].text == "https://p/"


def test_xml_escaping_helpers_exact() -> None:
    assert xml_text("a<b>&c\"d'\r\n\t") == "a&lt;b&gt;&amp;c\"d'&#13;\n\t"
    assert xml_attr('a<b>&c"d\r\n\t') == "a&lt;b&gt;&amp;c&quot;d&#13;&#10;&#9;"
    assert xml_text("x\x00y") == "xy"
    assert xml_attr("x\x00y") == "xy"


# -- authenticationSuccess JSON (2.5.2, 2.5.7, 2.6.2) ----------------------------------


def test_success_json_shape() -> None:
    assertion = make(
        attributes={"affiliation": ("staff", "faculty"), "title": ("Mr.",)},
        pgt_iou="PGTIOU-84678-8a9d",
        proxies=("https://proxy2/pgtUrl", "https://proxy1/pgtUrl"),
    )
    body = json.loads(service_response_success(assertion, with_attributes=True, fmt="JSON"))
    assert body == {
        "serviceResponse": {
            "authenticationSuccess": {
                "user": "jdoe",
                "attributes": {
                    "authenticationDate": "2025-11-22T13:45:00Z",
                    "longTermAuthenticationRequestTokenUsed": "false",
                    "isFromNewLogin": "false",
                    **dict(SIGN_IN_XML),
                    "affiliation": ["staff", "faculty"],
                    "title": "Mr.",
                },
                "proxyGrantingTicket": "PGTIOU-84678-8a9d",
                "proxies": ["https://proxy2/pgtUrl", "https://proxy1/pgtUrl"],
            }
        }
    }


def test_success_json_minimal_omits_absent_keys() -> None:
    document = service_response_success(make(user=HOSTILE), with_attributes=False, fmt="JSON")
    assert json.loads(document) == {"serviceResponse": {"authenticationSuccess": {"user": HOSTILE}}}


# -- failures (2.5.2, 2.5.3, 2.7.2, 2.7.3) ---------------------------------------------


@pytest.mark.parametrize(("cls", "code"), ERROR_CLASSES)
def test_authentication_failure_every_code(cls: type[errors.CasError], code: str) -> None:
    message = f"Ticket ST-1 not recognized {HOSTILE}\x01"
    document = service_response_failure(cls(message))
    root = parse(document)
    assert len(root) == 1
    failure = root[0]
    assert failure.tag == q("authenticationFailure")
    assert failure.attrib == {"code": code}
    assert failure.text == f"Ticket ST-1 not recognized {HOSTILE}"
    body = json.loads(service_response_failure(cls(message), fmt="JSON"))
    assert body == {
        "serviceResponse": {"authenticationFailure": {"code": code, "description": message}}
    }


def test_authentication_failure_exact_document() -> None:
    document = service_response_failure(errors.InvalidTicket("Ticket ST-1 not recognized"))
    assert document == (
        '<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">'
        '<cas:authenticationFailure code="INVALID_TICKET">Ticket ST-1 not recognized'
        "</cas:authenticationFailure></cas:serviceResponse>"
    )


def test_proxy_success_xml_and_json() -> None:
    document = proxy_success("PT-1856392-b98xZrQN4p90ASrw96c8")
    assert document == (
        '<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:proxySuccess>'
        "<cas:proxyTicket>PT-1856392-b98xZrQN4p90ASrw96c8</cas:proxyTicket></cas:proxySuccess>"
        "</cas:serviceResponse>"
    )
    parse(document)
    assert json.loads(proxy_success("PT-1", fmt="JSON")) == {
        "serviceResponse": {"proxySuccess": {"proxyTicket": "PT-1"}}
    }


@pytest.mark.parametrize(("cls", "code"), ERROR_CLASSES)
def test_proxy_failure_every_code(cls: type[errors.CasError], code: str) -> None:
    message = "'pgt' and 'targetService' parameters are both required & <more>"
    failure = parse(proxy_failure(cls(message)))[0]
    assert failure.tag == q("proxyFailure")
    assert failure.attrib == {"code": code}
    assert failure.text == message
    assert json.loads(proxy_failure(cls(message), fmt="JSON")) == {
        "serviceResponse": {"authenticationFailure": {"code": code, "description": message}}
    }


# -- format parameter (2.5.1) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "XML"),
        ("", "XML"),
        ("XML", "XML"),
        ("xml", "XML"),
        ("Json", "JSON"),
        ("JSON", "JSON"),
    ],
)
def test_parse_format_accepts(value: str | None, expected: str) -> None:
    assert parse_format(value) == expected


@pytest.mark.parametrize("value", ["html", "XML ", "yaml", "j\u017fon", "X" * 1000])
def test_parse_format_rejects_with_invalid_request(value: str) -> None:
    with pytest.raises(errors.InvalidRequest) as info:
        parse_format(value)
    assert info.value.code == "INVALID_REQUEST"
    assert "supported values are XML and JSON" in info.value.message
    assert len(info.value.message) < 120


def test_unknown_fmt_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        service_response_success(make(), with_attributes=False, fmt="json")
    with pytest.raises(ValueError):
        proxy_success("PT-1", fmt="TEXT")


def test_content_types() -> None:
    assert FORMATS == ("XML", "JSON")
    assert XML_CONTENT_TYPE == "application/xml; charset=utf-8"
    assert JSON_CONTENT_TYPE == "application/json; charset=utf-8"
    assert TEXT_CONTENT_TYPE == "text/plain; charset=utf-8"


# -- a real client reads our documents -------------------------------------------------


def test_python_cas_client_reads_success() -> None:
    cas = pytest.importorskip("cas")
    assertion = make(attributes={"memberOf": ("g1", "g2"), "mail": ("a@b",)}, pgt_iou="PGTIOU-9")
    document = service_response_success(assertion, with_attributes=True)
    user, attributes, pgtiou = cas.CASClientV3.verify_response(document)
    assert user == "jdoe"
    assert pgtiou == "PGTIOU-9"
    assert attributes["memberOf"] == ["g1", "g2"]
    assert attributes["mail"] == "a@b"
    assert attributes["isFromNewLogin"] == "false"
