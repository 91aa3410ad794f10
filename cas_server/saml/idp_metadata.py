"""Our own metadata: one signed ``md:EntityDescriptor`` with an ``IDPSSODescriptor``
(SAML metadata 2.4.3), as the federation's technical profile and SAML2Int ask:
signing keys (the current one and the rollover one), the encryption key, SSO and
SLO with the Redirect and POST bindings, the NameID formats, ``shibmd:Scope``,
``mdui:UIInfo``, ``md:Organization``, ``md:ContactPerson`` and a ``validUntil``;
and, when the release rules give Research & Scholarship SPs the R&S bundle, the
``entity-category-support`` entity attribute that R&S SPs and eduGAIN look for
(REFEDS R&S 1.3, section 5; SAML metadata attribute extensions).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT

from ..protocol.saml2.name_id import PERSISTENT, TRANSIENT
from ..protocol.saml2.policy import REFUSED, RESEARCH_AND_SCHOLARSHIP, ReleaseRules
from ..settings.saml import SamlSettings
from .signing import DS_NS, add_signature_template, sign_element

MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
SHIBMD_NS = "urn:mace:shibboleth:metadata:1.0"
MDUI_NS = "urn:oasis:names:tc:SAML:metadata:ui"
MDATTR_NS = "urn:oasis:names:tc:SAML:metadata:attribute"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
ENTITY_CATEGORY_SUPPORT = "http://macedir.org/entity-category-support"
URI_FORMAT = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
# What an IdP supporting R&S releases (REFEDS R&S 1.3, 4.3.1): a shared user
# identifier, the person's name (displayName, or givenName and sn) and e-mail.
_RS_IDENTIFIERS = ("eduPersonPrincipalName", "subject-id", "pairwise-id")
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"
NSMAP = {"md": MD_NS, "ds": DS_NS, "shibmd": SHIBMD_NS, "mdui": MDUI_NS}


def certificate_body(cert_file: str) -> str:
    """The base64 DER of a PEM certificate file, as ds:X509Certificate holds it."""
    with open(cert_file, "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _md(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{MD_NS}}}{name}", {k: v for k, v in attrs.items()})
    if text is not None:
        element.text = text
    return element


def _key_descriptor(parent: etree._Element, use: str, cert_file: str) -> None:
    descriptor = _md(parent, "KeyDescriptor", use=use)
    key_info = etree.SubElement(descriptor, f"{{{DS_NS}}}KeyInfo")
    data = etree.SubElement(key_info, f"{{{DS_NS}}}X509Data")
    etree.SubElement(data, f"{{{DS_NS}}}X509Certificate").text = certificate_body(cert_file)
    if use == "encryption":
        for algorithm in (
            "http://www.w3.org/2009/xmlenc11#aes256-gcm",
            "http://www.w3.org/2009/xmlenc11#aes128-gcm",
            "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
            "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
            "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
        ):
            _md(descriptor, "EncryptionMethod", Algorithm=algorithm)


def supports_research_and_scholarship(rules: ReleaseRules) -> bool:
    """Whether R&S SPs get the R&S bundle under these rules (then we may say so)."""
    name = rules.by_category.get(RESEARCH_AND_SCHOLARSHIP)
    if name is None or name == REFUSED or name not in rules.policies:
        return False
    policy = rules.policies[name]
    released = set(policy.attributes)
    named = "displayName" in released or {"givenName", "sn"} <= released
    identified = any(identifier in released for identifier in _RS_IDENTIFIERS)
    return not policy.requested_only and named and identified and "mail" in released


def _entity_categories(root: etree._Element, categories: tuple[str, ...]) -> None:
    extensions = _md(root, "Extensions")
    attributes = etree.SubElement(
        extensions, f"{{{MDATTR_NS}}}EntityAttributes", nsmap={"mdattr": MDATTR_NS}
    )
    attribute = etree.SubElement(
        attributes,
        f"{{{SAML_NS}}}Attribute",
        {"Name": ENTITY_CATEGORY_SUPPORT, "NameFormat": URI_FORMAT},
        nsmap={"saml": SAML_NS},
    )
    for category in categories:
        etree.SubElement(attribute, f"{{{SAML_NS}}}AttributeValue").text = category


def _languages(names: Mapping[str, str], fallback: str) -> dict[str, str]:
    return dict(names) if names else {"en": fallback}


def build_metadata(settings: SamlSettings, public_url: str, now: float) -> bytes:
    """Our EntityDescriptor, signed with the metadata key, valid ``metadata_validity``."""
    assert settings.signing is not None
    base = public_url.rstrip("/")
    root = etree.Element(f"{{{MD_NS}}}EntityDescriptor", nsmap=NSMAP)
    root.set("entityID", settings.entity_id)
    root.set("ID", "_" + uuid.uuid4().hex)
    root.set("validUntil", iso(now + settings.metadata_validity))
    if supports_research_and_scholarship(settings.rules):
        _entity_categories(root, (RESEARCH_AND_SCHOLARSHIP,))
    idp = _md(
        root,
        "IDPSSODescriptor",
        protocolSupportEnumeration=PROTOCOL,
        WantAuthnRequestsSigned="false",
    )
    extensions = _md(idp, "Extensions")
    if settings.scope:
        scope = etree.SubElement(extensions, f"{{{SHIBMD_NS}}}Scope", regexp="false")
        scope.text = settings.scope
    names = _languages(settings.display_name, settings.entity_id)
    ui = etree.SubElement(extensions, f"{{{MDUI_NS}}}UIInfo")
    for lang, text in names.items():
        etree.SubElement(ui, f"{{{MDUI_NS}}}DisplayName", {XML_LANG: lang}).text = text
    _key_descriptor(idp, "signing", settings.signing.cert_file)
    if settings.next_signing is not None:
        _key_descriptor(idp, "signing", settings.next_signing.cert_file)
    encryption = settings.encryption or settings.signing
    _key_descriptor(idp, "encryption", encryption.cert_file)
    for binding in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST):
        _md(idp, "SingleLogoutService", Binding=binding, Location=f"{base}/idp/slo")
    for name_id_format in (TRANSIENT, PERSISTENT):
        _md(idp, "NameIDFormat", name_id_format)
    for binding in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST):
        _md(idp, "SingleSignOnService", Binding=binding, Location=f"{base}/idp/sso")
    organization = _md(root, "Organization")
    for element in ("OrganizationName", "OrganizationDisplayName"):
        for lang, text in names.items():
            _md(organization, element, text, **{XML_LANG: lang})
    for lang in names:
        _md(organization, "OrganizationURL", settings.organization_url or base, **{XML_LANG: lang})
    for kind, address in (
        ("technical", settings.technical_contact),
        ("support", settings.support_contact),
    ):
        if address:
            contact = _md(root, "ContactPerson", contactType=kind)
            mail = address if address.startswith("mailto:") else f"mailto:{address}"
            _md(contact, "EmailAddress", mail)
    pair = settings.metadata_signing or settings.signing
    add_signature_template(root, certificate_body(pair.cert_file))
    sign_element(root, root.get("ID"), pair.key_file)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
