"""In-process XML signature: the pysaml2 backend, signature wrapping refused, the
algorithms SAML2Int allows, thread safety of the shared identity provider."""

from __future__ import annotations

import base64
import copy
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from lxml import etree

from cas_server.protocol.saml2.name_id import TRANSIENT
from cas_server.saml import BINDING_HTTP_POST
from cas_server.saml.idp import SamlIdentityProvider
from cas_server.saml.signing import (
    add_signature_template,
    parse_xml,
    public_key,
    sign_element,
    verify_element,
)
from tests.saml.conftest import ACS, SP
from tests.saml.test_saml_sso import redirect_request, respond
from tests.support.saml_crypto import InProcessCrypto
from tests.support.saml_keys import key_pair

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"


def signed_document() -> Any:
    root = etree.fromstring(
        f'<samlp:Response xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="_r1">'
        f'<saml:Issuer>me</saml:Issuer><saml:Assertion ID="_a1"><saml:Issuer>me</saml:Issuer>'
        f"<saml:Subject>alice</saml:Subject></saml:Assertion></samlp:Response>"
    )
    assertion = root.find(f"{{{SAML}}}Assertion")
    add_signature_template(assertion, key_pair("idp").cert_b64, after=("Issuer",))
    sign_element(root, "_a1", key_pair("idp").key_file)
    return root


def idp_key() -> Any:
    return public_key(key_pair("idp").cert_file, is_file=True)


def test_signature_verifies_and_tampering_breaks_it() -> None:
    root = signed_document()
    assertion = root.find(f"{{{SAML}}}Assertion")
    assert verify_element(assertion, idp_key())
    assert not verify_element(assertion, public_key(key_pair("sp").cert_file, is_file=True))
    assertion.find(f"{{{SAML}}}Subject").text = "mallory"
    assert not verify_element(assertion, idp_key())


def test_wrapping_attacks_are_refused() -> None:
    """XSW: the signed original kept elsewhere, an evil element carrying its signature."""
    root = signed_document()
    original = root.find(f"{{{SAML}}}Assertion")
    evil = copy.deepcopy(original)
    evil.find(f"{{{SAML}}}Subject").text = "mallory"
    # 1. The evil assertion carries the signature whose reference points to the original ID.
    evil.set("ID", "_evil")
    assert not verify_element(evil, idp_key())
    # 2. Same ID twice (the original hidden in an extension): refused by the ID check.
    root.append(evil)
    evil.set("ID", "_a1")
    crypto = InProcessCrypto()
    text = etree.tostring(root).decode()
    assert not crypto.validate_signature(
        text, key_pair("idp").cert_file, "pem", f"{SAML}:Assertion", "_a1"
    )
    # 3. A signature that is not the element's own (in a child) is not accepted.
    holder = etree.fromstring(f'<saml:Assertion xmlns:saml="{SAML}" ID="_h"/>')
    holder.append(copy.deepcopy(signed_document().find(f"{{{SAML}}}Assertion")))
    assert not verify_element(holder, idp_key())


def test_backend_checks_the_element_name() -> None:
    text = etree.tostring(signed_document()).decode()
    crypto = InProcessCrypto()
    cert = key_pair("idp").cert_file
    assert crypto.validate_signature(text, cert, "pem", f"{SAML}:Assertion", "_a1")
    assert not crypto.validate_signature(text, cert, "pem", f"{SAMLP}:Response", "_a1")
    assert not crypto.validate_signature("<not xml", cert, "pem", f"{SAML}:Assertion", "_a1")


def test_pysaml2_sp_with_the_in_process_backend(idp: SamlIdentityProvider, sp: Any) -> None:
    """pysaml2 verifies our response through InProcessCrypto.validate_signature, and
    signs through InProcessCrypto.sign_statement what we verify."""
    sp.sec.crypto = InProcessCrypto()
    request_id, args = redirect_request(sp)
    out = respond(idp, idp.parse_authn_request(**args))
    parsed = sp.parse_authn_request_response(
        out.fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/"}
    )
    assert parsed.ava["mail"] == ["jeanne.martin@example.org"]
    signed = sp.sec.sign_statement(
        etree.tostring(signed_document()).decode().replace(key_pair("idp").cert_b64, ""),
        f"{SAML}:Assertion",
        key_file=key_pair("sp").key_file,
        node_id="_a1",
    )
    assertion = parse_xml(signed.encode()).find(f"{{{SAML}}}Assertion")
    assert verify_element(assertion, public_key(key_pair("sp").cert_file, is_file=True))


def test_pysaml2_sp_refuses_a_wrapped_response(idp: SamlIdentityProvider, sp: Any) -> None:
    sp.sec.crypto = InProcessCrypto()
    request_id, args = redirect_request(sp)
    out = respond(idp, idp.parse_authn_request(**args))
    root = etree.fromstring(base64.b64decode(out.fields["SAMLResponse"]))
    assertion = root.find(f"{{{SAML}}}Assertion")
    evil = copy.deepcopy(assertion)
    for value in evil.iter(f"{{{SAML}}}AttributeValue"):
        value.text = "mallory@evil.example"
    evil.remove(evil.find(f"{{{DS}}}Signature"))
    root.insert(root.index(assertion), evil)  # the evil one first, same ID
    wrapped = base64.b64encode(etree.tostring(root)).decode()
    try:
        parsed = sp.parse_authn_request_response(
            wrapped, BINDING_HTTP_POST, outstanding={request_id: "/"}
        )
    except Exception:  # pysaml2's own error kinds
        parsed = None
    assert parsed is None or "mallory@evil.example" not in str(parsed.ava)


def test_sha1_signatures_are_refused() -> None:
    import xmlsec

    root = etree.fromstring(
        f'<saml:Assertion xmlns:saml="{SAML}" ID="_s">'
        "<saml:Issuer>me</saml:Issuer></saml:Assertion>"
    )
    signature = xmlsec.template.create(
        root, xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformRsaSha1
    )
    root.append(signature)
    ref = xmlsec.template.add_reference(signature, xmlsec.constants.TransformSha1, uri="#_s")
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformEnveloped)
    sign_element(root, "_s", key_pair("idp").key_file)
    assert not verify_element(root, idp_key())


def test_one_identity_provider_serves_many_threads(idp: SamlIdentityProvider, sp: Any) -> None:
    request = idp.unsolicited_request(SP, ACS, None)

    def one(index: int) -> bytes:
        out = idp.authn_response(
            request,
            name_id=f"user-{index}",
            name_id_format=TRANSIENT,
            attributes={"mail": (f"user{index}@example.org",)},
            authn_context="urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
            authn_instant=time.time(),
            session_index=f"s{index}",
            encrypt=index % 2 == 0,
        )
        return base64.b64decode(out.fields["SAMLResponse"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        documents = list(pool.map(one, range(64)))
    for document in documents:
        root = parse_xml(document)
        assert verify_element(root, idp_key())
    parsed = sp.parse_authn_request_response(
        base64.b64encode(documents[3]).decode(), BINDING_HTTP_POST
    )
    assert parsed.ava["mail"] == ["user3@example.org"]


@pytest.mark.parametrize("size", [10, 5000])
def test_default_http_get_caps_the_size(size: int) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from cas_server.saml.metadata import MetadataError, default_http_get

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"x" * size)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        get = default_http_get(timeout=5)
        url = f"http://127.0.0.1:{server.server_address[1]}/md.xml"
        if size <= 1024:
            assert get(url, 1024) == b"x" * size
        else:
            with pytest.raises(MetadataError):
                get(url, 1024)
    finally:
        server.shutdown()
        server.server_close()
