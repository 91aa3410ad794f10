"""An SP's LogoutRequest whose NameID is encrypted for us (``saml:EncryptedID``, SAML core
2.2.4, 3.7.1), as Shibboleth SP sends it when our metadata publishes an encryption key.

The SP side is built here as an SP builds it: pysaml2's LogoutRequest, its NameID
replaced by an EncryptedID (XML Encryption with python-xmlsec, the content key by
RSA-OAEP for our encryption certificate, inside the EncryptedData's KeyInfo or beside
it), then signed by the SP (XML signature for POST, the query for Redirect).
Every bad one must be :class:`BadRequest`, never another exception."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import xmlsec
from lxml import etree
from saml2.saml import NameID

from cas_server.protocol.saml2.errors import BadRequest
from cas_server.protocol.saml2.name_id import PERSISTENT, TRANSIENT
from cas_server.saml import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from cas_server.saml.idp import SamlIdentityProvider
from cas_server.saml.inbound import Message, logout_request_info
from cas_server.saml.signing import add_signature_template, sign_element
from tests.saml.conftest import IDP_ENTITY, IDP_URL, SP
from tests.support.saml_keys import key_pair

SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
XENC_NS = "http://www.w3.org/2001/04/xmlenc#"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
IDP_SLO = f"{IDP_URL}/idp/slo"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
NAME_ID = (
    f'<saml:NameID xmlns:saml="{SAML_NS}" Format="{TRANSIENT}" '
    f'NameQualifier="{IDP_ENTITY}" SPNameQualifier="{SP}">transient-42</saml:NameID>'
)


def encrypted_id(
    plaintext: str = NAME_ID,
    *,
    keys: str = "idp-encryption",
    beside: bool = False,
    content: Any = xmlsec.constants.TransformAes256Gcm,
    transport: Any = xmlsec.constants.TransformRsaOaep,
) -> Any:
    """A saml:EncryptedID of ``plaintext`` for the certificate of ``key_pair(keys)``."""
    standalone = etree.fromstring(plaintext.encode())
    template = xmlsec.template.encrypted_data_create(
        standalone, content, type=xmlsec.constants.TypeEncElement, ns="xenc"
    )
    xmlsec.template.encrypted_data_ensure_cipher_value(template)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(template, ns="ds")
    encrypted_key = xmlsec.template.add_encrypted_key(key_info, transport)
    xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_key)
    manager = xmlsec.KeysManager()
    manager.add_key(
        xmlsec.Key.from_file(key_pair(keys).cert_file, xmlsec.constants.KeyDataFormatCertPem)
    )
    context = xmlsec.EncryptionContext(manager)
    bits = 128 if content == xmlsec.constants.TransformAes128Cbc else 256
    context.key = xmlsec.Key.generate(
        xmlsec.constants.KeyDataAes, bits, xmlsec.constants.KeyDataTypeSession
    )
    data = context.encrypt_xml(template, standalone)
    wrapper = etree.Element(f"{{{SAML_NS}}}EncryptedID", nsmap={"saml": SAML_NS})
    wrapper.append(data)
    # Parsed again: lxml's find() misses the names libxmlsec created outside its dictionary.
    wrapper = etree.fromstring(etree.tostring(wrapper))
    data = wrapper.find(f"{{{XENC_NS}}}EncryptedData")
    if beside:  # core 2.2.4: the EncryptedKey a sibling, found by a RetrievalMethod
        found = data.find(f"{{{DS_NS}}}KeyInfo/{{{XENC_NS}}}EncryptedKey")
        found.set("Id", "_key1")
        info = found.getparent()
        info.remove(found)
        etree.SubElement(
            info, f"{{{DS_NS}}}RetrievalMethod", URI="#_key1", Type=f"{XENC_NS}EncryptedKey"
        )
        wrapper.append(found)
    return wrapper


def logout_xml(sp: Any, identifier: Any, *, keep_name_id: bool = False) -> bytes:
    """pysaml2's LogoutRequest with its NameID replaced by ``identifier``."""
    _, request = sp.create_logout_request(
        IDP_SLO, IDP_ENTITY, name_id=NameID(format=TRANSIENT, text="transient-42"),
        session_indexes=["session-42"], sign=False,
    )  # fmt: skip
    root = etree.fromstring(str(request).encode())
    name_id = root.find(f"{{{SAML_NS}}}NameID")
    if keep_name_id:
        name_id.addnext(identifier)
    else:
        root.replace(name_id, identifier)
    return bytes(etree.tostring(root))


def post_args(xml: bytes) -> dict[str, Any]:
    root = etree.fromstring(xml)
    pair = key_pair("sp")
    add_signature_template(root, pair.cert_b64, after=("Issuer",))
    sign_element(root, root.get("ID"), pair.key_file)
    return {
        "binding": BINDING_HTTP_POST,
        "saml_request": base64.b64encode(etree.tostring(root)).decode(),
        "relay_state": "back",
    }


def redirect_args(sp: Any, xml: bytes) -> dict[str, Any]:
    info = sp.apply_binding(
        BINDING_HTTP_REDIRECT, xml.decode(), IDP_SLO, relay_state="back",
        sign=True, sigalg=RSA_SHA256,
    )  # fmt: skip
    query = urlsplit(dict(info["headers"])["Location"]).query
    params = {k: v[0] for k, v in parse_qs(query).items()}
    return {
        "binding": BINDING_HTTP_REDIRECT,
        "saml_request": params["SAMLRequest"],
        "relay_state": params.get("RelayState"),
        "sig_alg": params.get("SigAlg"),
        "signature": params.get("Signature"),
        "query_string": query,
    }


@pytest.mark.parametrize("beside", [False, True], ids=["key-inside", "key-beside"])
@pytest.mark.parametrize("binding", [BINDING_HTTP_POST, BINDING_HTTP_REDIRECT])
def test_encrypted_name_id_is_decrypted(
    idp: SamlIdentityProvider, sp: Any, binding: str, beside: bool
) -> None:
    xml = logout_xml(sp, encrypted_id(beside=beside))
    args = post_args(xml) if binding == BINDING_HTTP_POST else redirect_args(sp, xml)
    info = idp.parse_logout_request(**args)
    assert (info.name_id, info.name_id_format) == ("transient-42", TRANSIENT)
    assert info.session_indexes == ("session-42",) and info.sp_entity_id == SP


@pytest.mark.parametrize("keys", ["idp", "idp-next"], ids=["signing-key", "rollover-key"])
def test_other_keys_of_ours_decrypt_too(idp: SamlIdentityProvider, sp: Any, keys: str) -> None:
    info = idp.parse_logout_request(**post_args(logout_xml(sp, encrypted_id(keys=keys))))
    assert info.name_id == "transient-42"


def test_aes_cbc_content_and_persistent_format(idp: SamlIdentityProvider, sp: Any) -> None:
    plaintext = NAME_ID.replace(TRANSIENT, PERSISTENT)
    identifier = encrypted_id(plaintext, content=xmlsec.constants.TransformAes128Cbc)
    info = idp.parse_logout_request(**post_args(logout_xml(sp, identifier)))
    assert (info.name_id, info.name_id_format) == ("transient-42", PERSISTENT)


def test_encrypted_for_someone_else_is_refused(idp: SamlIdentityProvider, sp: Any) -> None:
    identifier = encrypted_id(keys="stranger")
    with pytest.raises(BadRequest, match="does not decrypt"):
        idp.parse_logout_request(**post_args(logout_xml(sp, identifier)))


def _cipher_values(identifier: Any) -> list[Any]:
    return list(identifier.iter(f"{{{XENC_NS}}}CipherValue"))


@pytest.mark.parametrize("which", [0, 1], ids=["content-key", "content"])
@pytest.mark.parametrize(
    "garble",
    [
        lambda text: text[:-8] + ("A" if text[-9] != "A" else "B") * 4 + text[-4:],
        lambda text: text[: len(text) // 2],
        lambda text: "not base64 at all!",
        lambda text: "",
        lambda text: base64.b64encode(b"\x00" * 4096).decode(),
    ],
    ids=["flipped", "truncated", "not-base64", "empty", "zeros"],
)
def test_garbled_encrypted_id_is_bad_request(
    idp: SamlIdentityProvider, sp: Any, which: int, garble: Any
) -> None:
    identifier = encrypted_id()
    values = _cipher_values(identifier)  # document order: EncryptedKey's, then the data's
    assert len(values) == 2
    values[which].text = garble("".join(values[which].text.split()))
    with pytest.raises(BadRequest):
        idp.parse_logout_request(**post_args(logout_xml(sp, identifier)))


@pytest.mark.parametrize(
    "plaintext",
    [
        f'<saml:BaseID xmlns:saml="{SAML_NS}" NameQualifier="x"/>',
        f'<saml:Issuer xmlns:saml="{SAML_NS}">transient-42</saml:Issuer>',
        f'<saml:NameID xmlns:saml="{SAML_NS}"><saml:NameID>x</saml:NameID></saml:NameID>',
        f'<saml:Assertion xmlns:saml="{SAML_NS}" ID="_a" Version="2.0"/>',
    ],
    ids=["base-id", "issuer", "nested", "assertion"],
)
def test_decrypted_element_must_be_a_name_id(
    idp: SamlIdentityProvider, sp: Any, plaintext: str
) -> None:
    identifier = encrypted_id(plaintext)
    with pytest.raises(BadRequest):
        idp.parse_logout_request(**post_args(logout_xml(sp, identifier)))


def test_encrypted_id_inside_encrypted_id_is_refused(idp: SamlIdentityProvider, sp: Any) -> None:
    inner = etree.tostring(encrypted_id()).decode()
    with pytest.raises(BadRequest, match="NameID"):
        idp.parse_logout_request(**post_args(logout_xml(sp, encrypted_id(inner))))


def test_encrypted_id_with_a_name_id_is_refused(idp: SamlIdentityProvider, sp: Any) -> None:
    xml = logout_xml(sp, encrypted_id(), keep_name_id=True)
    with pytest.raises(BadRequest, match="2 identifiers"):
        idp.parse_logout_request(**post_args(xml))


def test_two_encrypted_ids_are_refused(idp: SamlIdentityProvider, sp: Any) -> None:
    root = etree.fromstring(logout_xml(sp, encrypted_id()))
    root.find(f"{{{SAML_NS}}}EncryptedID").addnext(encrypted_id())
    with pytest.raises(BadRequest, match="2 identifiers"):
        idp.parse_logout_request(**post_args(etree.tostring(root)))


def test_rsa_pkcs1_v15_key_transport_is_refused(idp: SamlIdentityProvider, sp: Any) -> None:
    identifier = encrypted_id(transport=xmlsec.constants.TransformRsaPkcs1)
    with pytest.raises(BadRequest, match="RSA-OAEP"):
        idp.parse_logout_request(**post_args(logout_xml(sp, identifier)))


@pytest.mark.parametrize("damage", ["no-data", "two-data", "no-key", "text-type"])
def test_malformed_encrypted_id_is_bad_request(
    idp: SamlIdentityProvider, sp: Any, damage: str
) -> None:
    identifier = encrypted_id()
    data = identifier.find(f"{{{XENC_NS}}}EncryptedData")
    if damage == "no-data":
        identifier.remove(data)
    elif damage == "two-data":
        identifier.append(encrypted_id().find(f"{{{XENC_NS}}}EncryptedData"))
    elif damage == "no-key":
        data.remove(data.find(f"{{{DS_NS}}}KeyInfo"))
    else:
        data.set("Type", f"{XENC_NS}Content")
    with pytest.raises(BadRequest):
        idp.parse_logout_request(**post_args(logout_xml(sp, identifier)))


def test_tampered_after_signing_is_refused_before_decryption(
    idp: SamlIdentityProvider, sp: Any
) -> None:
    args = post_args(logout_xml(sp, encrypted_id()))
    root = etree.fromstring(base64.b64decode(args["saml_request"]))
    old = root.find(f"{{{SAML_NS}}}EncryptedID")
    root.replace(old, encrypted_id(keys="idp-next"))
    args["saml_request"] = base64.b64encode(etree.tostring(root)).decode()
    with pytest.raises(BadRequest, match="signature"):
        idp.parse_logout_request(**args)


def test_an_unsigned_message_is_never_decrypted(idp: SamlIdentityProvider, sp: Any) -> None:
    """Decrypting what strangers send would make our answers an oracle: an EncryptedID
    is read only from a signed message (even from an SP whose metadata has no key)."""
    root = etree.fromstring(logout_xml(sp, encrypted_id()))
    message = Message(root, SP, signed=False)
    with pytest.raises(BadRequest, match="signed"):
        logout_request_info(message, None, BINDING_HTTP_POST, 0.0, (key_pair("idp").key_file,))


def test_a_plain_name_id_still_works_and_base_id_is_refused(
    idp: SamlIdentityProvider, sp: Any
) -> None:
    plain = etree.fromstring(NAME_ID)
    assert idp.parse_logout_request(**post_args(logout_xml(sp, plain))).name_id == "transient-42"
    base = etree.fromstring(f'<saml:BaseID xmlns:saml="{SAML_NS}" NameQualifier="x"/>')
    with pytest.raises(BadRequest, match="BaseID"):
        idp.parse_logout_request(**post_args(logout_xml(sp, base)))
