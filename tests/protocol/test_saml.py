"""SAML 1.1 /samlValidate (cas_server.protocol.cas.saml), CAS 3.0 section 4.2."""

from __future__ import annotations

import re
from typing import Any

import pytest
from lxml import etree  # type: ignore[import-untyped]

from cas_server.protocol.cas import errors
from cas_server.protocol.cas.assertion import Assertion
from cas_server.protocol.cas.saml import (
    MAX_REQUEST_BYTES,
    SAML_CONTENT_TYPE,
    SamlRequest,
    SamlRequestError,
    parse_saml_request,
    saml_failure,
    saml_success,
)

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
SAMLP = "urn:oasis:names:tc:SAML:1.0:protocol"
SAML = "urn:oasis:names:tc:SAML:1.0:assertion"
CAS_ATTR_NS = "http://www.ja-sig.org/products/cas/"
NOW = 1_763_819_100.0  # 2025-11-22T13:45:00Z
LOGIN = NOW - 60  # 2025-11-22T13:44:00Z
HOSTILE = "<script>alert('x')</script> & \"quoted\""
ID_RE = re.compile(r"_[0-9a-f]{32}")

# What the Java CAS client (Saml11TicketValidator) posts, as in spec 4.2.4.
JAVA_REQUEST = (
    b'<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<SOAP-ENV:Header/><SOAP-ENV:Body>"
    b'<samlp:Request xmlns:samlp="urn:oasis:names:tc:SAML:1.0:protocol" MajorVersion="1" '
    b'MinorVersion="1" RequestID="_192.168.16.51.1024506224022" '
    b'IssueInstant="2002-06-19T17:03:44.022Z">'
    b"<samlp:AssertionArtifact>ST-1-u4hrm3td92cLxpCvrjylcas.example.com"
    b"</samlp:AssertionArtifact></samlp:Request></SOAP-ENV:Body></SOAP-ENV:Envelope>"
)

SPEC_REQUEST = b"""<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">
\t<SOAP-ENV:Header/>
\t<SOAP-ENV:Body>
\t\t<samlp:Request xmlns:samlp="urn:oasis:names:tc:SAML:1.0:protocol" MajorVersion="1" \
MinorVersion="1" RequestID="_192.168.16.51.1024506224022" IssueInstant="2002-06-19T17:03:44.022Z">
\t\t\t<samlp:AssertionArtifact>
\t\t\t  ST-1-u4hrm3td92cLxpCvrjylcas.example.com
\t\t\t</samlp:AssertionArtifact>
\t\t</samlp:Request>
\t</SOAP-ENV:Body>
</SOAP-ENV:Envelope>
"""

EXPECTED = SamlRequest(
    ticket="ST-1-u4hrm3td92cLxpCvrjylcas.example.com",
    request_id="_192.168.16.51.1024506224022",
    issue_instant="2002-06-19T17:03:44.022Z",
)


def request_with(artifact: str = "<samlp:AssertionArtifact>ST-1</samlp:AssertionArtifact>",
                 attrs: str = 'MajorVersion="1" MinorVersion="1" RequestID="r1" '
                 'IssueInstant="2002-06-19T17:03:44.022Z"',
                 ns: str = SAMLP) -> bytes:  # fmt: skip
    return (
        f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP}"><SOAP-ENV:Body>'
        f'<samlp:Request xmlns:samlp="{ns}" {attrs}>{artifact}</samlp:Request>'
        "</SOAP-ENV:Body></SOAP-ENV:Envelope>"
    ).encode()


# -- parse_saml_request (4.2.2-4.2.4) --------------------------------------------------


def test_parses_java_client_request() -> None:
    assert parse_saml_request(JAVA_REQUEST) == EXPECTED


def test_parses_spec_example_with_whitespace_around_artifact() -> None:
    assert parse_saml_request(SPEC_REQUEST) == EXPECTED


def test_parses_python_cas_client_request() -> None:
    cas = pytest.importorskip("cas")
    body = cas.CASClientWithSAMLV1.get_saml_assertion("ST-42-abc")
    parsed = parse_saml_request(body)
    assert parsed.ticket == "ST-42-abc"
    assert parsed.request_id != ""
    assert parsed.issue_instant != ""


def test_namespace_not_prefix_decides() -> None:
    body = (
        f'<e:Envelope xmlns:e="{SOAP}"><e:Body><Request xmlns="{SAMLP}" MajorVersion="1" '
        'RequestID="r9" IssueInstant="t"><AssertionArtifact> ST-9 </AssertionArtifact>'
        "</Request></e:Body></e:Envelope>"
    ).encode()
    assert parse_saml_request(body) == SamlRequest("ST-9", "r9", "t")


def test_xml_declaration_and_bom_accepted() -> None:
    body = b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?>\n' + JAVA_REQUEST
    assert parse_saml_request(body) == EXPECTED


def test_exactly_max_size_accepted_one_more_rejected() -> None:
    base = request_with()
    body = base + b" " * (MAX_REQUEST_BYTES - len(base))
    assert len(body) == MAX_REQUEST_BYTES
    assert parse_saml_request(body).ticket == "ST-1"
    with pytest.raises(SamlRequestError, match="larger than 65536 bytes"):
        parse_saml_request(body + b" ")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<samlp:Request xmlns:samlp="urn:oasis:names:tc:SAML:1.0:protocol" RequestID="r" IssueInstant="t">
<samlp:AssertionArtifact>&lol4;</samlp:AssertionArtifact></samlp:Request>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<samlp:Request xmlns:samlp="urn:oasis:names:tc:SAML:1.0:protocol" RequestID="r" IssueInstant="t">
<samlp:AssertionArtifact>&xxe;</samlp:AssertionArtifact></samlp:Request>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE r SYSTEM "http://127.0.0.1:1/evil.dtd">
<samlp:Request xmlns:samlp="urn:oasis:names:tc:SAML:1.0:protocol" RequestID="r" IssueInstant="t">
<samlp:AssertionArtifact>ST-1</samlp:AssertionArtifact></samlp:Request>"""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty SAML request body"),
        (b"  \r\n\t ", "empty SAML request body"),
        (b"ticket=ST-1", "not well-formed XML"),
        (b"<samlp:Request", "not well-formed XML"),
        (b"<a><b></a>", "not well-formed XML"),
        (BILLION_LAUGHS, "document type declaration"),
        (XXE, "document type declaration"),
        (EXTERNAL_DTD, "document type declaration"),
        (b"x" * (MAX_REQUEST_BYTES + 1), "larger than"),
        (request_with(artifact=""), "no samlp:AssertionArtifact"),
        (request_with(artifact="<samlp:AssertionArtifact/>"), "samlp:AssertionArtifact is empty"),
        (
            request_with(artifact="<samlp:AssertionArtifact> \n </samlp:AssertionArtifact>"),
            "samlp:AssertionArtifact is empty",
        ),
        (
            request_with(artifact="<samlp:AssertionArtifact>ST-1</samlp:AssertionArtifact>" * 2),
            "more than one samlp:AssertionArtifact",
        ),
        (
            request_with(artifact="<samlp:AssertionArtifact>ST<x/>1</samlp:AssertionArtifact>"),
            "text only",
        ),
        (request_with(ns="urn:oasis:names:tc:SAML:2.0:protocol"), "no samlp:Request"),
        (request_with(ns="urn:evil"), "no samlp:Request"),
        (request_with(attrs='MajorVersion="2" RequestID="r" IssueInstant="t"'), "MajorVersion"),
        (request_with().replace(b"ST-1", b"ST-\xff\xfe"), "not valid UTF-8"),
        (JAVA_REQUEST.decode().encode("utf-16"), "not valid UTF-8"),
        (request_with() + request_with(), "not well-formed XML"),
        (
            f'<r xmlns:samlp="{SAMLP}">'.encode()
            + request_with()[request_with().index(b"<samlp:Request") :].replace(
                b"</SOAP-ENV:Body></SOAP-ENV:Envelope>", b""
            )
            * 2
            + b"</r>",
            "more than one samlp:Request",
        ),
    ],
)
def test_rejects(body: bytes, message: str) -> None:
    with pytest.raises(SamlRequestError, match=re.escape(message)):
        parse_saml_request(body)


def test_saml_request_error_is_value_error() -> None:
    assert issubclass(SamlRequestError, ValueError)


# -- saml_success (4.2.5, 4.2.5.1) -----------------------------------------------------


def make(**kwargs: Any) -> Assertion:
    values: dict[str, Any] = {
        "user": "johnq",
        "service": "https://some-service.example.com/app/?a=1&b=2",
        "authenticated_at": LOGIN,
        "attributes": {"uid": ("12345",), "eduPersonAffiliation": ("staff", "faculty")},
        "long_term": True,
    }
    values.update(kwargs)
    return Assertion(**values)


def response_of(document: str) -> Any:
    envelope = etree.fromstring(document.encode("utf-8"))
    assert envelope.tag == f"{{{SOAP}}}Envelope"
    assert [c.tag for c in envelope] == [f"{{{SOAP}}}Header", f"{{{SOAP}}}Body"]
    body = envelope[1]
    assert len(body) == 1
    response = body[0]
    assert response.tag == f"{{{SAMLP}}}Response"
    # StatusCode values are QNames: the samlp prefix must resolve to the protocol namespace.
    assert response.nsmap["samlp"] == SAMLP
    return response


def saml_attributes(statement: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for attribute in statement.findall(f"{{{SAML}}}Attribute"):
        assert attribute.get("AttributeNamespace") == CAS_ATTR_NS
        values = [v.text for v in attribute.findall(f"{{{SAML}}}AttributeValue")]
        found[attribute.get("AttributeName")] = values
    return found


def check_subject(subject: Any, user: str) -> None:
    assert subject.tag == f"{{{SAML}}}Subject"
    assert subject.findtext(f"{{{SAML}}}NameIdentifier") == user
    method = subject.findtext(f"{{{SAML}}}SubjectConfirmation/{{{SAML}}}ConfirmationMethod")
    assert method == "urn:oasis:names:tc:SAML:1.0:cm:artifact"


def test_success_structure() -> None:
    assertion = make()
    document = saml_success(assertion, request_id="_192.168.1", now=NOW, issuer="cas.example.org")
    response = response_of(document)
    attrs = dict(response.attrib)
    assert ID_RE.fullmatch(attrs.pop("ResponseID"))
    assert attrs == {
        "IssueInstant": "2025-11-22T13:45:00Z",
        "MajorVersion": "1",
        "MinorVersion": "1",
        "InResponseTo": "_192.168.1",
        "Recipient": "https://some-service.example.com/app/?a=1&b=2",
    }
    status, saml_assertion = response
    assert status.tag == f"{{{SAMLP}}}Status"
    assert [(c.tag, c.get("Value")) for c in status] == [
        (f"{{{SAMLP}}}StatusCode", "samlp:Success")
    ]

    assert saml_assertion.tag == f"{{{SAML}}}Assertion"
    a_attrs = dict(saml_assertion.attrib)
    assert ID_RE.fullmatch(a_attrs.pop("AssertionID"))
    assert a_attrs == {
        "IssueInstant": "2025-11-22T13:45:00Z",
        "Issuer": "cas.example.org",
        "MajorVersion": "1",
        "MinorVersion": "1",
    }
    assert [etree.QName(c).localname for c in saml_assertion] == [
        "Conditions",
        "AttributeStatement",
        "AuthenticationStatement",
    ]
    conditions, attribute_statement, authn = saml_assertion
    assert dict(conditions.attrib) == {
        "NotBefore": "2025-11-22T13:45:00Z",
        "NotOnOrAfter": "2025-11-22T13:45:30Z",
    }
    audience = conditions.findtext(f"{{{SAML}}}AudienceRestrictionCondition/{{{SAML}}}Audience")
    assert audience == "https://some-service.example.com/app/?a=1&b=2"

    check_subject(attribute_statement[0], "johnq")
    assert saml_attributes(attribute_statement) == {
        "authenticationDate": ["2025-11-22T13:44:00Z"],
        "longTermAuthenticationRequestTokenUsed": ["true"],
        "isFromNewLogin": ["false"],
        "authenticationMethod": ["password"],
        "successfulAuthenticationHandlers": ["PasswordAuthenticationHandler"],
        "authnContextClass": ["https://refeds.org/profile/sfa"],
        "uid": ["12345"],
        "eduPersonAffiliation": ["staff", "faculty"],
    }
    assert dict(authn.attrib) == {
        "AuthenticationInstant": "2025-11-22T13:44:00Z",
        "AuthenticationMethod": "urn:oasis:names:tc:SAML:1.0:am:password",
    }
    assert len(authn) == 1
    check_subject(authn[0], "johnq")


def test_success_ids_are_fresh_and_lifetime_configurable() -> None:
    one = response_of(saml_success(make(), request_id="r", now=NOW, issuer="i"))
    two = response_of(saml_success(make(), request_id="r", now=NOW, issuer="i", ticket_lifetime=90))
    assert one.get("ResponseID") != two.get("ResponseID")
    assert one[1].get("AssertionID") != two[1].get("AssertionID")
    assert one.get("ResponseID") != one[1].get("AssertionID")
    assert two[1][0].get("NotOnOrAfter") == "2025-11-22T13:46:30Z"


def test_success_hostile_values_round_trip() -> None:
    assertion = make(
        user=HOSTILE,
        service='https://s/?q="x"&y=<z>',
        attributes={"note": (HOSTILE, "bad\x00\x1f\ufffechars"), "bad name": ("x",)},
    )
    document = saml_success(assertion, request_id='r"<&>', now=NOW, issuer='iss"<&>')
    assert "<script>" not in document
    response = response_of(document)
    assert response.get("InResponseTo") == 'r"<&>'
    assert response.get("Recipient") == 'https://s/?q="x"&y=<z>'
    saml_assertion = response[1]
    assert saml_assertion.get("Issuer") == 'iss"<&>'
    check_subject(saml_assertion[1][0], HOSTILE)
    check_subject(saml_assertion[2][0], HOSTILE)
    attributes = saml_attributes(saml_assertion[1])
    assert attributes["note"] == [HOSTILE, "badchars"]
    assert "bad name" not in attributes


def test_success_refuses_unrepresentable_user() -> None:
    with pytest.raises(errors.InternalError):
        saml_success(make(user="john\x00q"), request_id="r", now=NOW, issuer="i")


def test_python_cas_client_reads_success(monkeypatch: pytest.MonkeyPatch) -> None:
    cas = pytest.importorskip("cas")
    document = saml_success(make(), request_id="r", now=NOW, issuer="cas.example.org")

    class Page:
        content = document.encode("utf-8")

        def close(self) -> None:
            pass

    client = cas.CASClientWithSAMLV1(service_url="https://s/", server_url="https://cas/")
    monkeypatch.setattr(client, "fetch_saml_validation", lambda ticket: Page())
    user, attributes, _ = client.verify_ticket("ST-1")
    assert user == "johnq"
    assert attributes["uid"] == "12345"
    assert attributes["eduPersonAffiliation"] == ["staff", "faculty"]
    assert attributes["longTermAuthenticationRequestTokenUsed"] == "true"


# -- saml_failure ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (errors.InvalidRequest, "samlp:Requester"),
        (errors.InvalidTicketSpec, "samlp:Requester"),
        (errors.UnauthorizedServiceProxy, "samlp:Requester"),
        (errors.InvalidProxyCallback, "samlp:Requester"),
        (errors.InvalidTicket, "samlp:Requester"),
        (errors.InvalidService, "samlp:Requester"),
        (errors.UnauthorizedService, "samlp:Requester"),
        (errors.InternalError, "samlp:Responder"),
    ],
)
def test_failure_status_per_error(cls: type[errors.CasError], status: str) -> None:
    message = f"Ticket ST-1 not recognized {HOSTILE}\x0b"
    response = response_of(saml_failure(cls(message), request_id="_req1", now=NOW))
    attrs = dict(response.attrib)
    assert ID_RE.fullmatch(attrs.pop("ResponseID"))
    assert attrs == {
        "IssueInstant": "2025-11-22T13:45:00Z",
        "MajorVersion": "1",
        "MinorVersion": "1",
        "InResponseTo": "_req1",
    }
    assert len(response) == 1  # Status only, no Assertion
    status_element = response[0]
    assert [etree.QName(c).localname for c in status_element] == ["StatusCode", "StatusMessage"]
    assert status_element[0].get("Value") == status
    assert status_element[1].text == f"Ticket ST-1 not recognized {HOSTILE}"


def test_failure_without_request_id_has_no_in_response_to() -> None:
    response = response_of(saml_failure(errors.InvalidRequest("bad"), request_id="", now=NOW))
    assert "InResponseTo" not in response.attrib
    assert response.find(f".//{{{SAML}}}Assertion") is None


def test_content_type() -> None:
    assert SAML_CONTENT_TYPE == "text/xml; charset=utf-8"
