"""Our metadata: valid against the SAML metadata schema, signed with the metadata key
(checked by the xmlsec1 program too), and holding what SAML2Int and the federation
ask for."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from datetime import datetime
from importlib.resources import files
from pathlib import Path

import pytest
from lxml import etree

from cas_server.saml.idp import SamlIdentityProvider, build_identity_provider
from cas_server.saml.signing import parse_xml, public_key, verify_element
from cas_server.settings.saml import SamlSettings
from tests.saml.conftest import IDP_ENTITY, IDP_URL, FakeHttp
from tests.support.fakes import FakeClock
from tests.support.saml_keys import key_pair

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
NS = {
    "md": MD,
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "shibmd": "urn:mace:shibboleth:metadata:1.0",
    "mdui": "urn:oasis:names:tc:SAML:metadata:ui",
}
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
MDUI_XSD = Path("/usr/share/xml/opensaml/sstc-saml-metadata-ui-v1.0.xsd")


def test_metadata_validates_against_the_saml_schema(idp: SamlIdentityProvider) -> None:
    from saml2.xml.schema import _create_xml_schema_validator

    schema_file = str(files("saml2.data.schemas").joinpath("saml-schema-metadata-2.0.xsd"))
    validator = _create_xml_schema_validator(schema_file)
    validator.validate(idp.metadata_xml().decode())


@pytest.mark.skipif(not MDUI_XSD.is_file(), reason="OpenSAML's schemas are not installed")
def test_mdui_extension_validates(idp: SamlIdentityProvider) -> None:
    import xmlschema

    root = etree.fromstring(idp.metadata_xml())
    ui = root.find("md:IDPSSODescriptor/md:Extensions/mdui:UIInfo", NS)
    schema = xmlschema.XMLSchema(
        str(MDUI_XSD),
        locations={"http://www.w3.org/XML/1998/namespace": "/usr/share/xml/xmltooling/xml.xsd"},
    )
    schema.validate(etree.tostring(ui).decode())


def test_metadata_is_signed_with_the_metadata_key(idp: SamlIdentityProvider) -> None:
    root = parse_xml(idp.metadata_xml())
    assert verify_element(root, public_key(key_pair("idp-metadata").cert_file, is_file=True))
    assert not verify_element(root, public_key(key_pair("idp").cert_file, is_file=True))
    signature = root.find("ds:Signature", NS)
    assert root.index(signature) == 0  # first child, as the schema orders it
    method = signature.find("ds:SignedInfo/ds:SignatureMethod", NS).get("Algorithm")
    assert method == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


@pytest.mark.skipif(shutil.which("xmlsec1") is None, reason="xmlsec1 is not installed")
def test_xmlsec1_verifies_the_metadata(idp: SamlIdentityProvider, tmp_path: Path) -> None:
    path = tmp_path / "metadata.xml"
    path.write_bytes(idp.metadata_xml())
    result = subprocess.run(
        [
            "xmlsec1",
            "--verify",
            "--id-attr:ID",
            f"{MD}:EntityDescriptor",
            "--enabled-key-data",
            "raw-x509-cert",
            "--pubkey-cert-pem",
            key_pair("idp-metadata").cert_file,
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    tampered = tmp_path / "tampered.xml"
    tampered.write_bytes(idp.metadata_xml().replace(b"/idp/sso", b"/evil/sso"))
    result = subprocess.run(
        ["xmlsec1", "--verify", "--id-attr:ID", f"{MD}:EntityDescriptor",
         "--pubkey-cert-pem", key_pair("idp-metadata").cert_file, str(tampered)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode != 0


def test_metadata_content(
    idp: SamlIdentityProvider, clock: FakeClock, settings: SamlSettings
) -> None:
    root = etree.fromstring(idp.metadata_xml())
    assert root.get("entityID") == IDP_ENTITY
    until = datetime.fromisoformat(root.get("validUntil")).timestamp()
    assert until == pytest.approx(clock.now() + settings.metadata_validity, abs=2)
    idp_sso = root.find("md:IDPSSODescriptor", NS)
    assert idp_sso.get("protocolSupportEnumeration") == "urn:oasis:names:tc:SAML:2.0:protocol"
    keys = [
        (k.get("use"), "".join(k.findtext(".//ds:X509Certificate", namespaces=NS).split()))
        for k in idp_sso.findall("md:KeyDescriptor", NS)
    ]
    assert keys == [
        ("signing", key_pair("idp").cert_b64),
        ("signing", key_pair("idp-next").cert_b64),
        ("encryption", key_pair("idp-encryption").cert_b64),
    ]
    endpoints = {
        (e.tag.split("}")[1], e.get("Binding"), e.get("Location"))
        for e in idp_sso
        if e.get("Binding")
    }
    assert endpoints == {
        ("SingleSignOnService", REDIRECT, f"{IDP_URL}/idp/sso"),
        ("SingleSignOnService", POST, f"{IDP_URL}/idp/sso"),
        ("SingleLogoutService", REDIRECT, f"{IDP_URL}/idp/slo"),
        ("SingleLogoutService", POST, f"{IDP_URL}/idp/slo"),
    }
    assert [e.text for e in idp_sso.findall("md:NameIDFormat", NS)] == [
        "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
        "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    ]
    scope = idp_sso.find("md:Extensions/shibmd:Scope", NS)
    assert (scope.text, scope.get("regexp")) == ("example.org", "false")
    names = {
        e.get("{http://www.w3.org/XML/1998/namespace}lang"): e.text
        for e in idp_sso.findall("md:Extensions/mdui:UIInfo/mdui:DisplayName", NS)
    }
    assert names == {"fr": "Université d'Exemple", "en": "Example University"}
    assert (
        root.findtext("md:Organization/md:OrganizationURL", namespaces=NS)
        == "https://www.example.org/"
    )
    contacts = {
        c.get("contactType"): c.findtext("md:EmailAddress", namespaces=NS)
        for c in root.findall("md:ContactPerson", NS)
    }
    assert contacts == {
        "technical": "mailto:saml-admin@example.org",
        "support": "mailto:help@example.org",
    }


def test_metadata_is_cached_then_renewed(
    idp: SamlIdentityProvider, clock: FakeClock, settings: SamlSettings
) -> None:
    first = idp.metadata_xml()
    clock.advance(60)
    assert idp.metadata_xml() is first
    clock.advance(settings.metadata_validity / 10 + 1)
    assert idp.metadata_xml() != first


def test_minimal_settings_still_validate(
    make_settings: Callable[..., SamlSettings], http: FakeHttp, clock: FakeClock
) -> None:
    from saml2.xml.schema import _create_xml_schema_validator

    settings = make_settings(
        encryption=None, next_signing=None, metadata_signing=None, display_name={},
        technical_contact="", support_contact="", federations=(),
    )  # fmt: skip
    idp = build_identity_provider(settings, http, clock, public_url=IDP_URL, background=False)
    root = parse_xml(idp.metadata_xml())
    assert verify_element(root, public_key(key_pair("idp").cert_file, is_file=True))
    schema_file = str(files("saml2.data.schemas").joinpath("saml-schema-metadata-2.0.xsd"))
    _create_xml_schema_validator(schema_file).validate(idp.metadata_xml().decode())


ENTITY_CATEGORY_SUPPORT = "http://macedir.org/entity-category-support"
RS = "http://refeds.org/category/research-and-scholarship"


def _supported(idp: SamlIdentityProvider) -> list[str]:
    root = etree.fromstring(idp.metadata_xml())
    path = "md:Extensions/mdattr:EntityAttributes/saml:Attribute"
    ns = {
        **NS,
        "mdattr": "urn:oasis:names:tc:SAML:metadata:attribute",
        "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    }
    return [
        value.text or ""
        for attribute in root.findall(path, ns)
        if attribute.get("Name") == ENTITY_CATEGORY_SUPPORT
        for value in attribute.findall("saml:AttributeValue", ns)
    ]


def test_research_and_scholarship_support_is_declared_when_released(
    idp: SamlIdentityProvider,
) -> None:
    """The built-in rules give R&S SPs the R&S bundle: the metadata says so (REFEDS R&S
    1.3, 5), and the document still validates and verifies."""
    from saml2.xml.schema import _create_xml_schema_validator

    assert _supported(idp) == [RS]
    schema_file = str(files("saml2.data.schemas").joinpath("saml-schema-metadata-2.0.xsd"))
    _create_xml_schema_validator(schema_file).validate(idp.metadata_xml().decode())
    root = parse_xml(idp.metadata_xml())
    assert verify_element(root, public_key(key_pair("idp-metadata").cert_file, is_file=True))


@pytest.mark.parametrize("policy", ["refused", "minimal", "code-of-conduct"])
def test_no_support_is_claimed_when_the_bundle_is_not_released(
    make_settings: Callable[..., SamlSettings], http: FakeHttp, clock: FakeClock, policy: str
) -> None:
    from dataclasses import replace

    settings = make_settings()
    rules = replace(settings.rules, by_category={**settings.rules.by_category, RS: policy})
    idp = build_identity_provider(
        replace(settings, rules=rules), http, clock, public_url=IDP_URL, background=False
    )
    assert _supported(idp) == []
