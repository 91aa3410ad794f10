"""Every validation endpoint and error code through the Flask test client (2.4–2.9, SAML)."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient
from lxml import etree

from cas_server.accounts.model import Account
from tests.support.app import CasBrowser

APP = "https://app.example.org/"
CAS = {"cas": "http://www.yale.edu/tp/cas"}
SAMLP = "urn:oasis:names:tc:SAML:1.0:protocol"
SAML = "urn:oasis:names:tc:SAML:1.0:assertion"


def xml(response: object) -> etree._Element:
    assert response.status_code == 200  # type: ignore[attr-defined]
    return etree.fromstring(response.data)  # type: ignore[attr-defined]


def failure_code(response: object) -> str:
    doc = xml(response)
    node = doc.find("cas:authenticationFailure", CAS)
    if node is None:
        node = doc.find("cas:proxyFailure", CAS)
    assert node is not None, etree.tostring(doc)
    return str(node.get("code"))


@pytest.fixture
def ticket(browser: CasBrowser, alice: Account) -> str:
    return browser.service_ticket(APP)


# --- /validate (CAS 1.0) ----------------------------------------------------------


def test_validate_cas1(client: FlaskClient, ticket: str) -> None:
    ok = client.get("/validate", query_string={"service": APP, "ticket": ticket})
    assert ok.status_code == 200
    assert ok.data == b"yes\nalice\n"
    assert ok.content_type.startswith("text/plain")
    again = client.get("/validate", query_string={"service": APP, "ticket": ticket})
    assert again.data == b"no\n\n"


def test_validate_cas1_failures(client: FlaskClient, browser: CasBrowser, ticket: str) -> None:
    assert client.get("/validate").data == b"no\n\n"
    assert client.get("/validate", query_string={"service": APP, "ticket": "x"}).data == b"no\n\n"
    other = browser.service_ticket(APP)
    assert (
        client.get(
            "/validate", query_string={"service": "https://app.example.org/x", "ticket": other}
        ).data
        == b"no\n\n"
    )


# --- /serviceValidate, /p3/serviceValidate -------------------------------------------


def test_service_validate_cas2_has_no_attributes(client: FlaskClient, ticket: str) -> None:
    doc = xml(client.get("/serviceValidate", query_string={"service": APP, "ticket": ticket}))
    assert doc.findtext("cas:authenticationSuccess/cas:user", namespaces=CAS) == "alice"
    assert doc.find("cas:authenticationSuccess/cas:attributes", CAS) is None


def test_p3_service_validate_releases_attributes(client: FlaskClient, ticket: str) -> None:
    response = client.get("/p3/serviceValidate", query_string={"service": APP, "ticket": ticket})
    assert response.content_type.startswith("application/xml")
    attrs = xml(response).find("cas:authenticationSuccess/cas:attributes", CAS)
    assert attrs is not None
    values: dict[str, list[str]] = {}
    for element in attrs:
        values.setdefault(etree.QName(element).localname, []).append(element.text or "")
    assert values["uid"] == ["alice"]
    assert values["mail"] == ["alice@example.org"]
    assert values["eduPersonAffiliation"] == ["student", "member"]
    assert values["cn"] == ["Alice Liddell"]  # displayName renamed by the release policy
    assert values["isFromNewLogin"] == ["true"]
    assert values["longTermAuthenticationRequestTokenUsed"] == ["false"]
    assert values["authenticationDate"][0].endswith("Z")
    assert "givenName" not in values  # not released to this service


def test_p3_json(client: FlaskClient, ticket: str) -> None:
    response = client.get(
        "/p3/serviceValidate", query_string={"service": APP, "ticket": ticket, "format": "json"}
    )
    assert response.status_code == 200 and response.content_type.startswith("application/json")
    body = json.loads(response.data)["serviceResponse"]["authenticationSuccess"]
    assert body["user"] == "alice"
    assert body["attributes"]["eduPersonAffiliation"] == ["student", "member"]
    failure = client.get(
        "/p3/serviceValidate", query_string={"service": APP, "ticket": ticket, "format": "JSON"}
    )
    assert json.loads(failure.data)["serviceResponse"]["authenticationFailure"]["code"] == (
        "INVALID_TICKET"
    )


def test_unsupported_format_is_invalid_request(client: FlaskClient, ticket: str) -> None:
    response = client.get(
        "/serviceValidate", query_string={"service": APP, "ticket": ticket, "format": "YAML"}
    )
    assert failure_code(response) == "INVALID_REQUEST"


@pytest.mark.parametrize(
    "endpoint",
    ["/serviceValidate", "/proxyValidate", "/p3/serviceValidate", "/p3/proxyValidate"],
)
def test_every_error_code_answers_http_200(
    client: FlaskClient, browser: CasBrowser, alice: Account, endpoint: str
) -> None:
    # INVALID_REQUEST: missing parameters
    assert failure_code(client.get(endpoint)) == "INVALID_REQUEST"
    assert failure_code(client.get(endpoint, query_string={"service": APP})) == "INVALID_REQUEST"
    # INVALID_TICKET: unknown, malformed, unknown prefix, oversized
    for bad in ("ST-" + "a" * 22, "garbage", "LT-12345", "ST-" + "x" * 10_000):
        code = failure_code(client.get(endpoint, query_string={"service": APP, "ticket": bad}))
        assert code == "INVALID_TICKET"
    # INVALID_SERVICE, and the ticket is dead afterwards
    ticket = browser.service_ticket(APP)
    code = failure_code(
        client.get(
            endpoint, query_string={"service": "https://app.example.org/x", "ticket": ticket}
        )
    )
    assert code == "INVALID_SERVICE"
    assert (
        failure_code(client.get(endpoint, query_string={"service": APP, "ticket": ticket}))
        == "INVALID_TICKET"
    )
    # INVALID_TICKET on renew with an SSO ticket
    sso = (
        client.get("/login", query_string={"service": APP}).headers["Location"].split("ticket=")[1]
    )
    code = failure_code(
        client.get(endpoint, query_string={"service": APP, "ticket": sso, "renew": "true"})
    )
    assert code == "INVALID_TICKET"
    # INVALID_PROXY_CALLBACK: plain http pgtUrl
    ticket = browser.service_ticket(APP)
    code = failure_code(
        client.get(
            endpoint,
            query_string={"service": APP, "ticket": ticket, "pgtUrl": "http://127.0.0.1/cb"},
        )
    )
    assert code == "INVALID_PROXY_CALLBACK"


def test_renew_accepts_a_ticket_from_primary_credentials(client: FlaskClient, ticket: str) -> None:
    doc = xml(
        client.get(
            "/serviceValidate", query_string={"service": APP, "ticket": ticket, "renew": "1"}
        )
    )
    assert doc.find("cas:authenticationSuccess", CAS) is not None


def test_unauthorized_service_proxy(app: object, client: FlaskClient, browser: CasBrowser) -> None:
    from cas_server.accounts.model import Profile
    from tests.support.app import make_account

    make_account(app, "sam", profile=Profile.STAFF)  # type: ignore[arg-type]
    ticket = browser.service_ticket("https://staff.example.org/", username="sam")
    code = failure_code(
        client.get(
            "/serviceValidate",
            query_string={
                "service": "https://staff.example.org/",
                "ticket": ticket,
                "pgtUrl": "https://127.0.0.1:9/cb",
            },
        )
    )
    assert code == "UNAUTHORIZED_SERVICE_PROXY"


def test_internal_error_when_the_store_is_gone(
    app: object, client: FlaskClient, ticket: str
) -> None:
    from sqlalchemy import text

    engine = app.extensions["cas"].engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE tickets"))
    response = client.get("/serviceValidate", query_string={"service": APP, "ticket": ticket})
    assert failure_code(response) == "INTERNAL_ERROR"
    assert (
        client.get("/validate", query_string={"service": APP, "ticket": ticket}).data == b"no\n\n"
    )
    # A page that needs the store says "temporarily unavailable", not a stack trace.
    page = client.get("/login", query_string={"service": APP})
    assert page.status_code == 503 and b"Traceback" not in page.data


# --- /proxy ------------------------------------------------------------------------


def test_proxy_errors(client: FlaskClient) -> None:
    assert failure_code(client.get("/proxy")) == "INVALID_REQUEST"
    assert failure_code(client.get("/proxy", query_string={"pgt": "PGT-x"})) == "INVALID_REQUEST"
    code = failure_code(
        client.get("/proxy", query_string={"pgt": "PGT-" + "a" * 22, "targetService": APP})
    )
    assert code == "INVALID_TICKET"
    response = client.get(
        "/proxy", query_string={"pgt": "PGT-" + "a" * 22, "targetService": APP, "format": "JSON"}
    )
    assert json.loads(response.data)["serviceResponse"]["authenticationFailure"]["code"] == (
        "INVALID_TICKET"
    )


# --- /samlValidate (SAML 1.1) --------------------------------------------------------


def saml_request(ticket: str, request_id: str = "_192.168.16.51.1024506224022") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">
  <SOAP-ENV:Header/>
  <SOAP-ENV:Body>
    <samlp:Request xmlns:samlp="urn:oasis:names:tc:SAML:1.0:protocol" MajorVersion="1"
      MinorVersion="1" RequestID="{request_id}" IssueInstant="2002-06-19T17:03:44.022Z">
      <samlp:AssertionArtifact>{ticket}</samlp:AssertionArtifact>
    </samlp:Request>
  </SOAP-ENV:Body>
</SOAP-ENV:Envelope>""".encode()


def test_saml_validate_success(client: FlaskClient, ticket: str) -> None:
    response = client.post(
        "/samlValidate",
        query_string={"TARGET": APP},
        data=saml_request(ticket),
        content_type="text/xml",
    )
    doc = xml(response)
    status = doc.find(f".//{{{SAMLP}}}StatusCode")
    assert status is not None and status.get("Value") == "samlp:Success"
    assert doc.findtext(f".//{{{SAML}}}NameIdentifier") == "alice"
    names = {a.get("AttributeName") for a in doc.iter(f"{{{SAML}}}Attribute")}
    assert {"mail", "cn", "eduPersonAffiliation", "isFromNewLogin"} <= names
    response_el = doc.find(f".//{{{SAMLP}}}Response")
    assert response_el is not None
    assert response_el.get("InResponseTo") == "_192.168.16.51.1024506224022"
    assert response_el.get("Recipient") == APP


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml at all",
        b"\xff\xfe\x00garbage",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>',
        b"<Envelope/>",
    ],
)
def test_saml_validate_rejects_broken_bodies(client: FlaskClient, body: bytes) -> None:
    response = client.post(
        "/samlValidate", query_string={"TARGET": APP}, data=body, content_type="text/xml"
    )
    doc = xml(response)
    status = doc.find(f".//{{{SAMLP}}}StatusCode")
    assert status is not None and status.get("Value") != "samlp:Success"


def test_saml_validate_unknown_ticket_and_wrong_target(client: FlaskClient, ticket: str) -> None:
    unknown = client.post(
        "/samlValidate",
        query_string={"TARGET": APP},
        data=saml_request("ST-" + "b" * 22),
        content_type="text/xml",
    )
    assert b"samlp:Success" not in unknown.data
    wrong = client.post(
        "/samlValidate",
        query_string={"TARGET": "https://app.example.org/other"},
        data=saml_request(ticket),
        content_type="text/xml",
    )
    assert b"samlp:Success" not in wrong.data


def test_saml_validate_oversized_body_is_refused(client: FlaskClient) -> None:
    response = client.post(
        "/samlValidate",
        query_string={"TARGET": APP},
        data=b"<x>" + b"a" * (2 * 1024 * 1024) + b"</x>",
        content_type="text/xml",
    )
    assert response.status_code in (200, 413)
    assert b"samlp:Success" not in response.data


# What Apache's mod_auth_cas 1.2 (Debian's, CASValidateSAML On) posts: no RequestID,
# no IssueInstant. Apereo CAS reads only the artifact; so do we (issue #12, item 7).
MOD_AUTH_CAS_REQUEST = (
    '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">'
    "<SOAP-ENV:Header/><SOAP-ENV:Body>"
    '<samlp:Request xmlns:samlp="urn:oasis:names:tc:SAML:1.0:protocol" MajorVersion="1" '
    'MinorVersion="1"><samlp:AssertionArtifact>{ticket}</samlp:AssertionArtifact>'
    "</samlp:Request></SOAP-ENV:Body></SOAP-ENV:Envelope>"
)


def test_saml_validate_accepts_mod_auth_cas_requests(client: FlaskClient, ticket: str) -> None:
    response = client.post(
        "/samlValidate",
        query_string={"TARGET": APP},
        data=MOD_AUTH_CAS_REQUEST.format(ticket=ticket).encode(),
        content_type="text/xml",
    )
    doc = xml(response)
    status = doc.find(f".//{{{SAMLP}}}StatusCode")
    assert status is not None and status.get("Value") == "samlp:Success"
    assert doc.findtext(f".//{{{SAML}}}NameIdentifier") == "alice"
    response_el = doc.find(f".//{{{SAMLP}}}Response")
    assert response_el is not None and response_el.get("InResponseTo") is None
