"""Web Browser SSO through the binding, with pysaml2's own SP in the test process:
requests parsed and checked, responses accepted by the SP (signature, audience,
recipient, InResponseTo, short validity), encrypted assertions, errors, unsolicited SSO."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree
from saml2.response import StatusNoPassive

from cas_server.protocol.saml2.errors import (
    BadRequest,
    NoPassive,
    RequestDenied,
    UnknownServiceProvider,
)
from cas_server.protocol.saml2.name_id import PERSISTENT, TRANSIENT
from cas_server.protocol.saml2.requests import AuthnRequestInfo
from cas_server.saml import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from cas_server.saml.idp import Outgoing, SamlIdentityProvider, build_identity_provider
from cas_server.settings.saml import SamlSettings
from tests.saml.conftest import ACS, IDP_ENTITY, IDP_URL, SLO, SP, FakeHttp
from tests.support.fakes import FakeClock
from tests.support.saml_keys import sp_client, write_sp_metadata

PPT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xenc": "http://www.w3.org/2001/04/xmlenc#",
}
ATTRIBUTES = {
    "mail": ("jeanne.martin@example.org",),
    "eduPersonScopedAffiliation": ("member@example.org", "staff@example.org"),
    "pairwise-id": ("abcdefgh@example.org",),
}


def redirect_request(sp: Any, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    """The SP's AuthnRequest by the Redirect binding: (request id, parse arguments)."""
    kwargs.setdefault("relay_state", "/after")
    request_id, info = sp.prepare_for_authenticate(
        entityid=IDP_ENTITY, binding=BINDING_HTTP_REDIRECT, **kwargs
    )
    location = dict(info["headers"])["Location"]
    query = urlsplit(location).query
    params = {k: v[0] for k, v in parse_qs(query).items()}
    return request_id, {
        "binding": BINDING_HTTP_REDIRECT,
        "saml_request": params["SAMLRequest"],
        "relay_state": params.get("RelayState"),
        "sig_alg": params.get("SigAlg"),
        "signature": params.get("Signature"),
        "query_string": query,
    }


def post_request(sp: Any, *, sign: bool = False, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    request_id, request = sp.create_authn_request(
        f"{IDP_URL}/idp/sso", binding=BINDING_HTTP_POST, sign=sign, **kwargs
    )
    xml = str(request).encode()
    return request_id, {
        "binding": BINDING_HTTP_POST,
        "saml_request": base64.b64encode(xml).decode(),
        "relay_state": "post-state",
    }


def respond(idp: SamlIdentityProvider, request: AuthnRequestInfo, **changes: Any) -> Outgoing:
    values: dict[str, Any] = {
        "name_id": "transient-1234",
        "name_id_format": TRANSIENT,
        "attributes": ATTRIBUTES,
        "authn_context": PPT,
        "authn_instant": time.time() - 5,
        "session_index": "session-1",
        "encrypt": False,
    }
    values.update(changes)
    return idp.authn_response(request, **values)


def response_xml(out: Outgoing) -> Any:
    return etree.fromstring(base64.b64decode(out.fields["SAMLResponse"]))


def test_redirect_request_is_parsed(idp: SamlIdentityProvider, sp: Any) -> None:
    request_id, args = redirect_request(sp)
    request = idp.parse_authn_request(**args)
    assert request.sp_entity_id == SP
    assert request.request_id == request_id
    assert (request.acs_url, request.acs_binding) == (ACS, BINDING_HTTP_POST)
    assert request.relay_state == "/after"
    assert not request.force_authn and not request.is_passive
    assert request.issue_instant is not None and abs(request.issue_instant - time.time()) < 5


def test_post_request_with_options_is_parsed(idp: SamlIdentityProvider, sp: Any) -> None:
    from saml2.saml import AuthnContextClassRef
    from saml2.samlp import RequestedAuthnContext

    context = RequestedAuthnContext(
        authn_context_class_ref=[AuthnContextClassRef(text="https://refeds.org/profile/mfa")],
        comparison="minimum",
    )
    _, args = post_request(
        sp,
        force_authn="true",
        is_passive="true",
        nameid_format=PERSISTENT,
        requested_authn_context=context,
    )
    request = idp.parse_authn_request(**args)
    assert request.force_authn and request.is_passive
    assert request.name_id_format == PERSISTENT
    assert request.requested_contexts == ("https://refeds.org/profile/mfa",)
    assert request.comparison == "minimum"
    assert request.relay_state == "post-state"


def test_response_is_accepted_by_the_sp(idp: SamlIdentityProvider, sp: Any) -> None:
    request_id, args = redirect_request(sp)
    request = idp.parse_authn_request(**args)
    out = respond(idp, request)
    assert (out.binding, out.url) == (BINDING_HTTP_POST, ACS)
    assert out.fields["RelayState"] == "/after"
    parsed = sp.parse_authn_request_response(
        out.fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/after"}
    )
    assert parsed.name_id.text == "transient-1234"
    assert parsed.name_id.format == TRANSIENT
    assert parsed.ava["mail"] == ["jeanne.martin@example.org"]
    assert parsed.ava["eduPersonScopedAffiliation"] == ["member@example.org", "staff@example.org"]
    assert parsed.authn_info()[0][0] == PPT
    assert parsed.session_info()["session_index"] == "session-1"


def test_response_binds_audience_recipient_request_and_lifetime(
    idp: SamlIdentityProvider, sp: Any, settings: SamlSettings
) -> None:
    request_id, args = redirect_request(sp)
    root = response_xml(respond(idp, idp.parse_authn_request(**args)))
    assert root.get("Destination") == ACS
    assert root.get("InResponseTo") == request_id
    assertion = root.find("saml:Assertion", NS)
    assert (
        assertion.findtext("saml:Conditions/saml:AudienceRestriction/saml:Audience", namespaces=NS)
        == SP
    )
    data = assertion.find("saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData", NS)
    assert data.get("Recipient") == ACS
    assert data.get("InResponseTo") == request_id
    issued = datetime.fromisoformat(assertion.get("IssueInstant")).timestamp()
    for until in (
        data.get("NotOnOrAfter"),
        assertion.find("saml:Conditions", NS).get("NotOnOrAfter"),
    ):
        assert 0 < datetime.fromisoformat(until).timestamp() - issued <= settings.assertion_lifetime
    name_id = assertion.find("saml:Subject/saml:NameID", NS)
    assert (name_id.get("NameQualifier"), name_id.get("SPNameQualifier")) == (IDP_ENTITY, SP)
    attribute = assertion.find("saml:AttributeStatement/saml:Attribute[@FriendlyName='mail']", NS)
    assert attribute.get("Name") == "urn:oid:0.9.2342.19200300.100.1.3"
    assert attribute.get("NameFormat") == "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"


def test_response_and_assertion_are_signed_rsa_sha256(idp: SamlIdentityProvider, sp: Any) -> None:
    _, args = redirect_request(sp)
    root = response_xml(respond(idp, idp.parse_authn_request(**args)))
    assertion = root.find("saml:Assertion", NS)
    for element in (root, assertion):
        signature = element.find("ds:Signature", NS)
        assert signature is not None
        assert signature.find("ds:SignedInfo/ds:SignatureMethod", NS).get("Algorithm") == RSA_SHA256
        reference = signature.find("ds:SignedInfo/ds:Reference", NS)
        assert reference.get("URI") == "#" + element.get("ID")
        assert reference.find("ds:DigestMethod", NS).get("Algorithm") == SHA256
        # Schema order: the signature follows the Issuer.
        assert etree.QName(element[0]).localname == "Issuer" and element[1] is signature


def test_tampered_response_is_refused_by_the_sp(idp: SamlIdentityProvider, sp: Any) -> None:
    request_id, args = redirect_request(sp)
    out = respond(idp, idp.parse_authn_request(**args))
    xml = base64.b64decode(out.fields["SAMLResponse"]).replace(b"jeanne.martin", b"pirate")
    with pytest.raises(Exception, match=r"(?i)signature"):
        sp.parse_authn_request_response(
            base64.b64encode(xml).decode(), BINDING_HTTP_POST, outstanding={request_id: "/"}
        )


def test_encrypted_assertion_decrypts_at_the_sp(idp: SamlIdentityProvider, sp: Any) -> None:
    request_id, args = redirect_request(sp)
    out = respond(idp, idp.parse_authn_request(**args), encrypt=True)
    root = response_xml(out)
    assert root.find("saml:Assertion", NS) is None
    data = root.find("saml:EncryptedAssertion/xenc:EncryptedData", NS)
    assert data.find("xenc:EncryptionMethod", NS).get("Algorithm") == (
        "http://www.w3.org/2009/xmlenc11#aes256-gcm"
    )
    key = data.find("ds:KeyInfo/xenc:EncryptedKey/xenc:EncryptionMethod", NS)
    assert key.get("Algorithm") == "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
    assert b"jeanne.martin" not in base64.b64decode(out.fields["SAMLResponse"])
    parsed = sp.parse_authn_request_response(
        out.fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/"}
    )
    assert parsed.ava["mail"] == ["jeanne.martin@example.org"]
    assert parsed.assertion.signature is not None  # signed inside the encryption


def _with_encryption_methods(path: Path, algorithms: list[str]) -> None:
    md = "urn:oasis:names:tc:SAML:2.0:metadata"
    root = etree.fromstring(path.read_bytes())
    for descriptor in root.iter(f"{{{md}}}KeyDescriptor"):
        if descriptor.get("use") == "encryption":
            for algorithm in algorithms:
                etree.SubElement(descriptor, f"{{{md}}}EncryptionMethod", Algorithm=algorithm)
    path.write_bytes(etree.tostring(root))


def test_encryption_follows_the_sp_metadata(
    make_settings: Callable[..., SamlSettings], sp_file: Path, http: FakeHttp, clock: FakeClock
) -> None:
    cbc = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
    _with_encryption_methods(sp_file, [cbc])
    idp = build_identity_provider(
        make_settings(), http, clock, public_url=IDP_URL, background=False
    )
    sp = sp_client(SP, ACS, idp.metadata_xml())
    request_id, args = redirect_request(sp)
    out = respond(idp, idp.parse_authn_request(**args), encrypt=True)
    method = response_xml(out).find(
        "saml:EncryptedAssertion/xenc:EncryptedData/xenc:EncryptionMethod", NS
    )
    assert method.get("Algorithm") == cbc
    parsed = sp.parse_authn_request_response(
        out.fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/"}
    )
    assert parsed.ava["mail"] == ["jeanne.martin@example.org"]


def test_encryption_without_an_sp_key_is_refused(
    make_settings: Callable[..., SamlSettings], tmp_path: Path, http: FakeHttp, clock: FakeClock
) -> None:
    plain = write_sp_metadata(tmp_path / "plain.xml", SP, ACS, encryption=False, keys="sp2")
    idp = build_identity_provider(
        make_settings(sp_files=(str(plain),)), http, clock, public_url=IDP_URL, background=False
    )
    provider = idp.service_provider(SP)
    assert provider is not None and not provider.encryption_key
    request = idp.unsolicited_request(SP, None, None)
    with pytest.raises(RequestDenied):
        respond(idp, request, encrypt=True)


def test_error_response_carries_the_status(idp: SamlIdentityProvider, sp: Any) -> None:
    request_id, args = redirect_request(sp)
    request = idp.parse_authn_request(**args)
    out = idp.error_response(request, NoPassive("no session"))
    root = response_xml(out)
    codes = [e.get("Value") for e in root.iter(f"{{{NS['samlp']}}}StatusCode")]
    assert codes == [
        "urn:oasis:names:tc:SAML:2.0:status:Requester",
        "urn:oasis:names:tc:SAML:2.0:status:NoPassive",
    ]
    assert root.find("ds:Signature", NS) is not None and root.find("saml:Assertion", NS) is None
    with pytest.raises(StatusNoPassive):
        sp.parse_authn_request_response(
            out.fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/"}
        )


def test_unanswerable_error_is_raised_again(idp: SamlIdentityProvider, sp: Any) -> None:
    _, args = redirect_request(sp)
    request = idp.parse_authn_request(**args)
    with pytest.raises(BadRequest):
        idp.error_response(request, BadRequest("nope"))


def test_unsolicited_response_is_accepted(idp: SamlIdentityProvider, sp: Any) -> None:
    request = idp.unsolicited_request(SP, ACS, "https://sp.example.org/target")
    assert request.request_id is None and request.relay_state == "https://sp.example.org/target"
    out = respond(idp, request)
    root = response_xml(out)
    assert root.get("InResponseTo") is None
    parsed = sp.parse_authn_request_response(out.fields["SAMLResponse"], BINDING_HTTP_POST)
    assert parsed.ava["mail"] == ["jeanne.martin@example.org"]


def test_unsolicited_checks_the_sp_and_its_acs(idp: SamlIdentityProvider) -> None:
    assert idp.unsolicited_request(SP, None, None).acs_url == ACS
    with pytest.raises(BadRequest):
        idp.unsolicited_request(SP, "https://evil.example.com/acs", None)
    with pytest.raises(UnknownServiceProvider):
        idp.unsolicited_request("https://unknown.example.com/sp", None, None)
    with pytest.raises(BadRequest):
        idp.unsolicited_request("", None, None)


def test_unknown_sp_is_refused(idp: SamlIdentityProvider) -> None:
    stranger = sp_client(
        "https://stranger.example.com/sp",
        "https://stranger.example.com/acs",
        idp.metadata_xml(),
        keys="stranger",
    )
    _, args = redirect_request(stranger)
    with pytest.raises(UnknownServiceProvider):
        idp.parse_authn_request(**args)


def test_acs_not_in_metadata_is_refused(idp: SamlIdentityProvider, sp: Any) -> None:
    _, args = post_request(sp, assertion_consumer_service_urls=["https://evil.example.com/acs"])
    with pytest.raises(BadRequest, match="AssertionConsumerServiceURL"):
        idp.parse_authn_request(**args)


def test_acs_by_index(idp: SamlIdentityProvider, sp: Any) -> None:
    _, args = post_request(sp, assertion_consumer_service_index="1")
    assert idp.parse_authn_request(**args).acs_url == ACS
    _, args = post_request(sp, assertion_consumer_service_index="7")
    with pytest.raises(BadRequest):
        idp.parse_authn_request(**args)


@pytest.mark.parametrize("shift", [-421.0, 181.0])
def test_stale_or_future_issue_instant_is_refused(
    idp: SamlIdentityProvider, sp: Any, clock: FakeClock, shift: float
) -> None:
    _, args = redirect_request(sp)
    clock.advance(-shift)
    with pytest.raises(BadRequest, match="IssueInstant"):
        idp.parse_authn_request(**args)


def test_issue_instant_within_the_window_is_accepted(
    idp: SamlIdentityProvider, sp: Any, clock: FakeClock
) -> None:
    _, args = redirect_request(sp)
    clock.advance(400)
    assert idp.parse_authn_request(**args).sp_entity_id == SP


def test_wrong_destination_is_refused(idp: SamlIdentityProvider, sp: Any) -> None:
    _, request = sp.create_authn_request(
        "https://elsewhere.example.org/sso", binding=BINDING_HTTP_POST
    )
    args = {
        "binding": BINDING_HTTP_POST,
        "saml_request": base64.b64encode(str(request).encode()).decode(),
        "relay_state": None,
    }
    with pytest.raises(BadRequest, match="Destination"):
        idp.parse_authn_request(**args)


def signed_post(sp: Any, digest: str = SHA256) -> tuple[str, dict[str, Any]]:
    request_id, request = sp.create_authn_request(
        f"{IDP_URL}/idp/sso", sign=True, sign_alg=RSA_SHA256, digest_alg=digest
    )
    xml = str(request).encode()
    return request_id, {
        "binding": BINDING_HTTP_POST,
        "saml_request": base64.b64encode(xml).decode(),
        "relay_state": None,
    }


@pytest.fixture
def signing_sp_idp(
    make_settings: Callable[..., SamlSettings], tmp_path: Path, http: FakeHttp, clock: FakeClock
) -> tuple[SamlIdentityProvider, Any]:
    """An SP whose metadata says AuthnRequestsSigned, and the IdP that knows it."""
    path = write_sp_metadata(tmp_path / "signing.xml", SP, ACS, authn_requests_signed=True)
    idp = build_identity_provider(
        make_settings(sp_files=(str(path),)), http, clock, public_url=IDP_URL, background=False
    )
    return idp, sp_client(SP, ACS, idp.metadata_xml(), authn_requests_signed=True)


def test_unsigned_request_is_refused_when_the_sp_signs(
    signing_sp_idp: tuple[SamlIdentityProvider, Any],
) -> None:
    idp, sp = signing_sp_idp
    _, args = redirect_request(sp, sign=False)
    args.update(sig_alg=None, signature=None)
    args["query_string"] = args["query_string"].split("&SigAlg=")[0]
    with pytest.raises(BadRequest, match="signed"):
        idp.parse_authn_request(**args)
    _, args = post_request(sp, sign=False)
    with pytest.raises(BadRequest, match="signed"):
        idp.parse_authn_request(**args)


def test_signed_requests_are_accepted(signing_sp_idp: tuple[SamlIdentityProvider, Any]) -> None:
    idp, sp = signing_sp_idp
    request_id, args = redirect_request(sp, sign=True, sigalg=RSA_SHA256)
    assert args["signature"]
    assert idp.parse_authn_request(**args).request_id == request_id
    # Without the raw query string, the values are re-encoded as pysaml2 does.
    assert idp.parse_authn_request(**{**args, "query_string": None}).request_id == request_id
    request_id, args = signed_post(sp)
    assert idp.parse_authn_request(**args).request_id == request_id


def test_sha1_digests_are_refused(signing_sp_idp: tuple[SamlIdentityProvider, Any]) -> None:
    idp, sp = signing_sp_idp
    _, args = signed_post(sp, digest="http://www.w3.org/2000/09/xmldsig#sha1")
    with pytest.raises(BadRequest, match="signature"):
        idp.parse_authn_request(**args)


def test_tampered_or_foreign_signatures_are_refused(
    signing_sp_idp: tuple[SamlIdentityProvider, Any],
) -> None:
    idp, sp = signing_sp_idp
    _, args = redirect_request(sp, sign=True, sigalg=RSA_SHA256)
    tampered = args["query_string"].replace("RelayState=%2Fafter", "RelayState=%2Fevil")
    with pytest.raises(BadRequest):
        idp.parse_authn_request(**{**args, "relay_state": "/evil", "query_string": tampered})
    # Signed by a key the SP's metadata does not hold.
    impostor = sp_client(SP, ACS, idp.metadata_xml(), keys="stranger", authn_requests_signed=True)
    _, args = redirect_request(impostor, sign=True, sigalg=RSA_SHA256)
    with pytest.raises(BadRequest, match="signature"):
        idp.parse_authn_request(**args)
    _, args = signed_post(impostor)
    with pytest.raises(BadRequest, match="signature"):
        idp.parse_authn_request(**args)


def test_service_provider_from_metadata(idp: SamlIdentityProvider) -> None:
    provider = idp.service_provider(SP)
    assert provider is not None
    assert provider.source.startswith("file:") and provider.encryption_key and provider.slo
    assert idp.service_provider("https://unknown.example.com/sp") is None
    assert [p.entity_id for p in idp.service_providers()] == [SP]
    assert SLO


def test_unknown_names_and_unsafe_values_are_left_out(idp: SamlIdentityProvider, sp: Any) -> None:
    request_id, args = redirect_request(sp)
    attributes = {
        "mail": ("ok@example.org", "bad\x01@example.org"),
        "notInTheCatalog": ("x",),
        "displayName": ("\x00",),
    }
    out = respond(idp, idp.parse_authn_request(**args), attributes=attributes)
    parsed = sp.parse_authn_request_response(
        out.fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/"}
    )
    assert parsed.ava == {"mail": ["ok@example.org"]}
