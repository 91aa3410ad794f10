"""Property-based fuzzing of the SAML IdP's endpoints (Hypothesis, Flask test client).

``/idp/sso`` (Redirect and POST bindings), ``/idp/slo``, ``/idp/unsolicited``,
``/idp/resume``, ``/idp/consent`` and ``/idp/metadata`` get random and mutated
``SAMLRequest``/``SAMLResponse``/``RelayState``/``SigAlg``/``Signature`` values: well-formed
AuthnRequests and LogoutRequests of the registered SP with their fields replaced,
flipped bytes before and after encoding, wrong encodings (not base64, not deflated,
deflated for POST), XML bombs and external entities, real signatures over another query.
Whatever comes in, the answer is a 2xx/3xx/4xx with a page (an HTML body, or a redirect
with a Location), never a 500, a stack trace or a file's content; a browser is only sent
off this server to the registered SP's endpoints (from its metadata) or back to ``/login``.

Bounded and derandomized like ``test_fuzz.py`` (``FUZZ_EXAMPLES``, ``FUZZ_RANDOM=1``).
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import shutil
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cas_server import create_app
from tests.support.app import PASSWORD, make_account, test_overrides
from tests.support.html import CSRF_RE
from tests.support.shibboleth import key_pair

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not os.environ.get("FUZZ_RANDOM"),
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TRACE_MARKERS = (
    "Traceback (most recent call last)",
    'File "/',
    "sqlalchemy.exc",
    "Werkzeug Debugger",
    "lxml.etree",
    "saml2.",
    "xmlsec.Error",
)
PUBLIC = "http://localhost"
IDP_ENTITY = PUBLIC + "/idp/metadata"
SSO = PUBLIC + "/idp/sso"
SLO = PUBLIC + "/idp/slo"
SP_ENTITY = "https://sp.example.org/shibboleth"
ACS = "https://sp.example.org/Shibboleth.sso/SAML2/POST"
SP_SLO = "https://sp.example.org/Shibboleth.sso/SLO/Redirect"
SP_ENDPOINTS = ("https://sp.example.org/",)
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"

NASTY = [
    "",
    " ",
    "\x00",
    "%00",
    "\r\nSet-Cookie: x=1",
    "'\"><script>alert(1)</script>",
    "javascript:alert(1)",
    "//evil.example.com/",
    "https://evil.example.com/",
    "https://sp.example.org.evil.example.com/",
    "https://sp.example.org@evil.example.com/",
    ACS,
    ACS + "/../../evil",
    SP_ENTITY,
    SP_ENTITY.upper(),
    IDP_ENTITY,
    SSO,
    "urn:oasis:names:tc:SAML:2.0:nameid-format:unspecified",
    PERSISTENT,
    TRANSIENT,
    "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    "https://refeds.org/profile/mfa",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
    "true",
    "1",
    "0",
    "false",
    "minimum",
    "better",
    "2026-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "not a date",
    "_" + "a" * 40,
    "a" * 5000,
    "é" * 50,
    "\ud7ff\ue000\uffff",
    "{{7*7}}",
    "${jndi:ldap://x}",
    "]]><x>",
    "&amp;&lt;",
    "ss:mem:" + "0" * 64,
]
text = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=60),
    st.text(alphabet=st.characters(codec="ascii"), max_size=200),
    st.builds(lambda a, b: a + b, st.sampled_from(NASTY), st.text(max_size=20)),
)
maybe = st.one_of(st.none(), text)
XML_BOMBS = [
    '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;'
    '&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><l>&c;&c;&c;&c;</l>',
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_x" '
    'Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><saml:Issuer '
    'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">&e;</saml:Issuer></samlp:AuthnRequest>',
    '<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://127.0.0.1:1/evil.dtd"><x/>',
    '<?xml version="1.0"?><?xml-stylesheet href="http://127.0.0.1:1/x.xsl"?><x/>',
    '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd"/>',
    "<" * 10000,
    "<a>" * 5000,
    "\xff\xfe<x/>",
    "<x/>",
    "",
]


def now_iso(delta: float = 0.0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def authn_request(fields: dict[str, str]) -> str:
    """An AuthnRequest of the registered SP, with ``fields`` replacing the defaults."""
    f = {
        "id": "_" + secrets.token_hex(16),
        "instant": now_iso(),
        "destination": SSO,
        "acs": ACS,
        "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
        "issuer": SP_ENTITY,
        "format": TRANSIENT,
        "allow": "1",
        "force": "false",
        "passive": "false",
        "version": "2.0",
        "context": "",
        **fields,
    }
    context = (
        '<samlp:RequestedAuthnContext Comparison="exact"><saml:AuthnContextClassRef>'
        f"{esc(f['context'])}</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>"
        if f["context"]
        else ""
    )
    return (
        '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
        f'ID="{esc(f["id"])}" Version="{esc(f["version"])}" IssueInstant="{esc(f["instant"])}" '
        f'Destination="{esc(f["destination"])}" AssertionConsumerServiceURL="{esc(f["acs"])}" '
        f'ProtocolBinding="{esc(f["binding"])}" ForceAuthn="{esc(f["force"])}" '
        f'IsPassive="{esc(f["passive"])}">'
        f"<saml:Issuer>{esc(f['issuer'])}</saml:Issuer>"
        f'<samlp:NameIDPolicy Format="{esc(f["format"])}" AllowCreate="{esc(f["allow"])}"/>'
        f"{context}</samlp:AuthnRequest>"
    )


def logout_request(fields: dict[str, str]) -> str:
    f = {
        "id": "_" + secrets.token_hex(16),
        "instant": now_iso(),
        "destination": SLO,
        "issuer": SP_ENTITY,
        "name_id": "x" * 20,
        "format": TRANSIENT,
        "index": "_" + secrets.token_hex(8),
        **fields,
    }
    return (
        '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
        f'ID="{esc(f["id"])}" Version="2.0" IssueInstant="{esc(f["instant"])}" '
        f'Destination="{esc(f["destination"])}">'
        f"<saml:Issuer>{esc(f['issuer'])}</saml:Issuer>"
        f'<saml:NameID Format="{esc(f["format"])}">{esc(f["name_id"])}</saml:NameID>'
        f"<samlp:SessionIndex>{esc(f['index'])}</samlp:SessionIndex></samlp:LogoutRequest>"
    )


def logout_response(fields: dict[str, str]) -> str:
    f = {
        "id": "_" + secrets.token_hex(16),
        "instant": now_iso(),
        "destination": SLO,
        "issuer": SP_ENTITY,
        "in_response_to": "_" + secrets.token_hex(16),
        "status": "urn:oasis:names:tc:SAML:2.0:status:Success",
        **fields,
    }
    return (
        '<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
        f'ID="{esc(f["id"])}" Version="2.0" IssueInstant="{esc(f["instant"])}" '
        f'Destination="{esc(f["destination"])}" InResponseTo="{esc(f["in_response_to"])}">'
        f"<saml:Issuer>{esc(f['issuer'])}</saml:Issuer>"
        f'<samlp:Status><samlp:StatusCode Value="{esc(f["status"])}"/></samlp:Status>'
        "</samlp:LogoutResponse>"
    )


def esc(value: str) -> str:
    """XML attribute/text escaping; half the time the fuzzer gets the raw value (broken XML)."""
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def deflate(xml: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(xml) + compressor.flush()


def flip(data: bytes, positions: list[int], value: int) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for p in positions:
        out[p % len(out)] ^= value or 1
    return bytes(out)


AUTHN_FIELDS = ("id", "instant", "destination", "acs", "binding", "issuer", "format", "allow",
                "force", "passive", "version", "context")  # fmt: skip
LOGOUT_FIELDS = ("id", "instant", "destination", "issuer", "name_id", "format", "index")
RESPONSE_FIELDS = ("id", "instant", "destination", "issuer", "in_response_to", "status")


@st.composite
def saml_xml(draw: st.DrawFn, build: Any, names: tuple[str, ...]) -> bytes:
    """A message of the registered SP, fields replaced, maybe bytes flipped; or junk XML."""
    kind = draw(st.sampled_from(["valid", "fields", "flipped", "bomb", "binary"]))
    if kind == "bomb":
        return draw(st.sampled_from(XML_BOMBS)).encode("utf-8", "surrogatepass")
    if kind == "binary":
        return draw(st.binary(max_size=400))
    fields = (
        {} if kind == "valid" else draw(st.dictionaries(st.sampled_from(names), text, max_size=4))
    )
    xml = str(build(fields)).encode("utf-8", "surrogatepass")
    if kind == "flipped":
        xml = flip(xml, draw(st.lists(st.integers(0, 10_000), min_size=1, max_size=4)),
                   draw(st.integers(0, 255)))  # fmt: skip
    return xml


@st.composite
def encoded(draw: st.DrawFn, xml: bytes, redirect: bool) -> str:
    """``xml`` as the binding encodes it (deflate+base64, or base64), or wrongly encoded."""
    how = draw(st.sampled_from(["right", "right", "right", "other", "raw", "junk", "flipped"]))
    if how == "raw":
        return xml.decode("latin-1")
    if how == "junk":
        junk: str = draw(st.one_of(text, st.sampled_from(["====", "A", "%%%", "AAAA" * 3000])))
        return junk
    deflated = (how == "right") == redirect
    data = base64.b64encode(deflate(xml) if deflated else xml).decode("ascii")
    if how == "flipped":
        positions = draw(st.lists(st.integers(0, 10_000), min_size=1, max_size=3))
        chars = list(data) or ["A"]
        for p in positions:
            chars[p % len(chars)] = draw(st.sampled_from(list("A/+=-_ %\x00é")))
        data = "".join(chars)
    return data


class SpKeys:
    """The registered SP's signing key: real Redirect-binding signatures to mutate."""

    def __init__(self, key_file: Path) -> None:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        self.key = key

    def sign(self, query: str, alg: str) -> str:
        digest: hashes.HashAlgorithm = hashes.SHA1() if alg == RSA_SHA1 else hashes.SHA256()
        return base64.b64encode(
            self.key.sign(query.encode("ascii"), padding.PKCS1v15(), digest)
        ).decode("ascii")


def redirect_query(
    param: str, value: str, relay: str | None, sig: str, keys: SpKeys, sig_alg: str | None,
    signature: str | None,
) -> str:  # fmt: skip
    """The query string of a Redirect-binding message, signed, missigned or not."""
    parts = [f"{param}={quote(value, safe='')}"]
    if relay is not None:
        parts.append(f"RelayState={quote(relay, safe='')}")
    if sig == "none":
        return "&".join(parts)
    alg = sig_alg if sig_alg is not None else RSA_SHA256
    parts.append(f"SigAlg={quote(alg, safe='')}")
    signed = "&".join(parts)
    if sig == "valid":
        value_sig = keys.sign(signed, alg)
    elif sig == "other":  # a real signature over something else
        value_sig = keys.sign(signed + "x", alg)
    else:
        value_sig = signature or ""
    return signed + "&Signature=" + quote(value_sig, safe="")


def sp_metadata(cert_file: Path) -> str:
    cert = "".join(cert_file.read_text().strip().splitlines()[1:-1])
    return f"""\
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{SP_ENTITY}">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor>
      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="{SP_SLO}"/>
    <md:NameIDFormat>{TRANSIENT}</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
        Location="{ACS}" index="1"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"""


@pytest.fixture(scope="module")
def saml_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("saml-fuzz-keys")
    idp_key, idp_cert = key_pair(base, "idp", "localhost")
    sp_key, sp_cert = key_pair(base, "sp", "sp.example.org")
    metadata = base / "sp-metadata.xml"
    metadata.write_text(sp_metadata(sp_cert), encoding="utf-8")
    return {"idp_key": idp_key, "idp_cert": idp_cert, "sp_key": sp_key, "sp_metadata": metadata}


def saml_overrides(files: dict[str, Path]) -> dict[str, Any]:
    """The ``[saml]`` section of the fuzzed app (H1's settings: keys, scope, one SP file)."""
    return {
        "enabled": True,
        "key_file": str(files["idp_key"]),
        "cert_file": str(files["idp_cert"]),
        "scope": "univ-demo.fr",
        "salt": "fuzz-salt-" + "s" * 32,
        "consent": True,
        "sp_files": [str(files["sp_metadata"])],
        "policies": {
            "fuzz": {
                "attributes": [
                    "eduPersonPrincipalName",
                    "mail",
                    "displayName",
                    "pairwise-id",
                    "eduPersonScopedAffiliation",
                ],
                "name_id_formats": ["transient", "persistent"],
                "consent": True,
            }
        },
        "release": {SP_ENTITY: "fuzz"},
    }


@pytest.fixture(scope="module")
def saml_app(
    tmp_path_factory: pytest.TempPathFactory, migrated_db: Path, saml_files: dict[str, Path]
) -> Iterator[Flask]:
    db = tmp_path_factory.mktemp("saml-fuzz") / "cas.sqlite3"
    shutil.copy(migrated_db, db)
    app = create_app(
        overrides=test_overrides(
            db,
            server={"public_url": PUBLIC},
            saml=saml_overrides(saml_files),
            login={"max_failures_per_login": 100000, "max_failures_per_ip": 100000},
        ),
        environ={},
    )
    if app.extensions["cas"].saml is None:
        pytest.fail("[saml] enabled but the app has no SAML IdP", pytrace=False)
    make_account(
        app, attributes={"mail": ["alice@example.org"], "eduPersonAffiliation": ["student"]}
    )
    yield app
    app.extensions["cas"].single_logout.executor.shutdown(wait=True)
    app.extensions["cas"].engine.dispose()


@pytest.fixture(scope="module")
def sp_keys(saml_files: dict[str, Path]) -> SpKeys:
    return SpKeys(saml_files["sp_key"])


@pytest.fixture(scope="module")
def tgc(saml_app: Flask) -> str:
    """A ticket-granting cookie of alice, for the examples with a live session."""
    client = saml_app.test_client()
    token = CSRF_RE.search(client.get("/login").get_data(as_text=True))
    assert token
    answer = client.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    cookie = client.get_cookie("TGC")
    assert cookie is not None
    return cookie.value


def client_for(app: Flask, tgc: str | None) -> FlaskClient:
    client = app.test_client()
    if tgc is not None:
        client.set_cookie("TGC", tgc)
    return client


def check(response: Any, *, record: bool = True) -> None:
    """Every answer: < 500, a page (HTML/XML body or a redirect), no trace, no file content."""
    status = response.status_code
    body = response.get_data(as_text=True)
    # --hypothesis-show-statistics: how far the examples got (refused, login, answered…).
    location = response.headers.get("Location", "")
    reached = "SAMLResponse" if 'name="SAMLResponse"' in body or "SAMLResponse=" in location else ""
    if 'action="/idp/consent"' in body:
        reached = "consent page"
    if record:
        event(f"{status} {urlsplit(location).path if location else ''} {reached}".strip())
    assert 200 <= status < 500, (status, body[:1000])
    for marker in TRACE_MARKERS:
        assert marker not in body, body[:2000]
    assert "root:x:0:0" not in body
    if 300 <= status < 400:
        location = response.headers.get("Location", "")
        assert location, status
        target = urlsplit(location)
        if target.netloc and target.netloc != "localhost":
            assert location.startswith(SP_ENDPOINTS), location
    else:
        assert body.strip(), status
        kind = response.headers.get("Content-Type", "")
        assert kind.startswith(("text/html", "application/samlmetadata+xml", "text/xml",
                                "application/xml")), kind  # fmt: skip
    # An auto-submitted form goes only to the SP's endpoints (or back to this server).
    for action in _form_actions(body):
        if action.startswith(("http://", "https://")):
            assert action.startswith((PUBLIC, *SP_ENDPOINTS)), action


def _form_actions(body: str) -> list[str]:
    return [m.replace("&amp;", "&") for m in re.findall(r'<form[^>]*action="([^"]*)"', body)]


@FUZZ
@given(
    data=st.data(),
    relay=maybe,
    sig=st.sampled_from(["none", "valid", "other", "junk"]),
    sig_alg=st.one_of(st.none(), st.sampled_from([RSA_SHA256, RSA_SHA1, "x"]), text),
    signature=maybe,
    session=st.booleans(),
)
def test_sso_redirect_binding(
    saml_app: Flask, tgc: str, sp_keys: SpKeys, data: st.DataObject, relay: str | None, sig: str,
    sig_alg: str | None, signature: str | None, session: bool,
) -> None:  # fmt: skip
    xml = data.draw(saml_xml(authn_request, AUTHN_FIELDS))
    value = data.draw(encoded(xml, redirect=True))
    query = redirect_query("SAMLRequest", value, relay, sig, sp_keys, sig_alg, signature)
    response = client_for(saml_app, tgc if session else None).get("/idp/sso?" + query)
    check(response)


@FUZZ
@given(data=st.data(), relay=maybe, session=st.booleans(),
       extra=st.dictionaries(st.sampled_from(["SigAlg", "Signature", "csrf_token", "x"]), text,
                             max_size=2))  # fmt: skip
def test_sso_post_binding(
    saml_app: Flask, tgc: str, data: st.DataObject, relay: str | None, session: bool,
    extra: dict[str, str],
) -> None:  # fmt: skip
    xml = data.draw(saml_xml(authn_request, AUTHN_FIELDS))
    form = {"SAMLRequest": data.draw(encoded(xml, redirect=False)), **extra}
    if relay is not None:
        form["RelayState"] = relay
    response = client_for(saml_app, tgc if session else None).post("/idp/sso", data=form)
    check(response)


@FUZZ
@given(
    query=st.dictionaries(
        st.sampled_from(
            ["SAMLRequest", "SAMLResponse", "RelayState", "SigAlg", "Signature", "SAMLart", "x"]
        ),
        text,
        max_size=5,
    ),
    method=st.sampled_from(["GET", "POST"]),
    path=st.sampled_from(["/idp/sso", "/idp/slo"]),
)
def test_binding_endpoints_with_random_parameters(
    saml_app: Flask, tgc: str, query: dict[str, str], method: str, path: str
) -> None:
    client = client_for(saml_app, tgc)
    if method == "GET":
        response = client.get(path, query_string=query)
    else:
        response = client.post(path, data=query)
    check(response)


@FUZZ
@given(
    data=st.data(),
    message=st.sampled_from(["request", "response"]),
    binding=st.sampled_from(["redirect", "post"]),
    relay=maybe,
    sig=st.sampled_from(["none", "valid", "other", "junk"]),
    sig_alg=st.one_of(st.none(), st.sampled_from([RSA_SHA256, RSA_SHA1]), text),
    signature=maybe,
    session=st.booleans(),
)
def test_slo(
    saml_app: Flask, sp_keys: SpKeys, data: st.DataObject, message: str, binding: str,
    relay: str | None, sig: str, sig_alg: str | None, signature: str | None, session: bool,
) -> None:  # fmt: skip
    if message == "request":
        xml = data.draw(saml_xml(logout_request, LOGOUT_FIELDS))
        param = "SAMLRequest"
    else:
        xml = data.draw(saml_xml(logout_response, RESPONSE_FIELDS))
        param = "SAMLResponse"
    # A session of its own: a logout must not end the module's signed-in session.
    client = saml_app.test_client()
    if session:
        client.set_cookie("TGC", "TGT-" + "x" * 30)
    if binding == "redirect":
        value = data.draw(encoded(xml, redirect=True))
        query = redirect_query(param, value, relay, sig, sp_keys, sig_alg, signature)
        response = client.get("/idp/slo?" + query)
    else:
        form = {param: data.draw(encoded(xml, redirect=False))}
        if relay is not None:
            form["RelayState"] = relay
        response = client.post("/idp/slo", data=form)
    check(response)


@FUZZ
@given(
    provider=st.one_of(st.none(), st.just(SP_ENTITY), text),
    shire=st.one_of(st.none(), st.just(ACS), text),
    target=maybe,
    extra=st.dictionaries(st.sampled_from(["time", "providerId", "x"]), text, max_size=2),
    session=st.booleans(),
)
def test_unsolicited(
    saml_app: Flask, tgc: str, provider: str | None, shire: str | None, target: str | None,
    extra: dict[str, str], session: bool,
) -> None:  # fmt: skip
    query = dict(extra)
    for name, value in (("providerId", provider), ("shire", shire), ("target", target)):
        if value is not None:
            query[name] = value
    response = client_for(saml_app, tgc if session else None).get(
        "/idp/unsolicited", query_string=query
    )
    check(response)


@FUZZ
@given(
    path=st.sampled_from(["/idp/resume", "/idp/resume/mfa"]),
    query=st.dictionaries(
        st.sampled_from(["key", "ticket", "x"]),
        st.one_of(text, st.just("ST-" + "A" * 30)),
        max_size=3,
    ),
    session=st.booleans(),
    pending=st.booleans(),
)
def test_resume(
    saml_app: Flask, tgc: str, path: str, query: dict[str, str], session: bool, pending: bool
) -> None:
    client = client_for(saml_app, tgc if session else None)
    if pending:
        # A real pending request in this browser's session: the key is then guessed.
        xml = authn_request({}).encode()
        start = client.get("/idp/sso?" + urlencode({"SAMLRequest": base64.b64encode(
            deflate(xml)).decode()}))  # fmt: skip
        check(start)
    check(client.get(path, query_string=query))


def consent_page(app: Flask, tgc: str) -> tuple[FlaskClient, dict[str, str]]:
    """A browser of alice on the consent page of a real request: its client and form
    (a consent remembered by an earlier example is withdrawn first)."""
    c = app.extensions["cas"]
    c.saml_consents.revoke(c.accounts.find_by_login("alice").uuid, SP_ENTITY)
    client = client_for(app, tgc)
    query = urlencode({"SAMLRequest": base64.b64encode(deflate(authn_request({}).encode()))})
    page = client.get("/idp/sso?" + query)
    check(page, record=False)
    if page.status_code in (302, 303) and "/idp/consent" in page.headers["Location"]:
        page = client.get(page.headers["Location"])
        check(page, record=False)
    body = page.get_data(as_text=True)
    assert 'action="/idp/consent"' in body, (page.status_code, body[:1000])
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body))
    return client, {k: unescape(v) for k, v in form.items()}


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "POST", "POST"]),
    form=st.dictionaries(
        st.sampled_from(["key", "decision", "remember", "csrf_token", "attributes", "x"]),
        st.one_of(text, st.sampled_from(["accept", "remember", "refuse"])),
        max_size=4,
    ),
    real=st.booleans(),
    session=st.sampled_from([True, True, False]),
    mangle=st.sampled_from(["none", "none", "key", "csrf", "both"]),
    decision=st.one_of(st.sampled_from(["accept", "remember", "refuse"]), text),
)
def test_consent(
    saml_app: Flask, tgc: str, method: str, form: dict[str, str], real: bool, session: bool,
    mangle: str, decision: str,
) -> None:  # fmt: skip
    if real:  # the real page's key and token, fields replaced or mangled
        client, hidden = consent_page(saml_app, tgc)
        if not session:
            client.delete_cookie("TGC")
        if mangle in ("key", "both"):
            hidden["key"] = hidden.get("key", "")[:-3] + "AAA"
        if mangle in ("csrf", "both"):
            hidden["csrf_token"] = hidden.get("csrf_token", "")[::-1]
        extra = {k: v for k, v in form.items() if k not in ("key", "csrf_token", "decision")}
        form = {**hidden, **extra, "decision": decision}
    else:
        client = client_for(saml_app, tgc if session else None)
    if method == "GET":
        response = client.get("/idp/consent", query_string=form)
    else:
        response = client.post("/idp/consent", data=form)
    check(response)
    if real and mangle in ("key", "both"):
        assert 'name="SAMLResponse"' not in response.get_data(as_text=True)


@FUZZ
@given(
    query=st.dictionaries(text, text, max_size=3),
    accept=st.one_of(
        st.none(), st.sampled_from(["application/samlmetadata+xml", "*/*", "x"]), text
    ),
)
def test_metadata(saml_app: Flask, query: dict[str, str], accept: str | None) -> None:
    headers = {} if accept is None else {"Accept": accept}
    try:
        response = saml_app.test_client().get("/idp/metadata", query_string=query, headers=headers)
    except ValueError:  # a header value the test client itself refuses ("\n")
        return
    check(response)
    assert response.status_code == 200, response.status_code
    assert b"EntityDescriptor" in response.get_data()
    assert b"PRIVATE KEY" not in response.get_data()


def test_valid_request_with_session_reaches_the_sp(saml_app: Flask, tgc: str) -> None:
    """The fuzzing's baseline: the unmutated request, signed in, consent given, goes to the
    SP's ACS with a SAMLResponse (so the examples above can reach every step)."""
    client, hidden = consent_page(saml_app, tgc)
    response = client.post("/idp/consent", data={**hidden, "decision": "accept"})
    check(response, record=False)
    body = response.get_data(as_text=True)
    assert response.status_code == 200, (response.status_code, body[:500])
    assert ACS in _form_actions(body), body[:1000]
    assert 'name="SAMLResponse"' in body
    # The same form again: used once.
    again = client.post("/idp/consent", data={**hidden, "decision": "accept"})
    check(again, record=False)
    assert 'name="SAMLResponse"' not in again.get_data(as_text=True)
