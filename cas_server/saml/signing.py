"""XML signature and encryption in-process (python-xmlsec over libxmlsec1), and safe parsing.

pysaml2's default backend starts the ``xmlsec1`` program for every signature (~80 ms);
here libxmlsec1 signs and verifies in this process (~1 ms), with the profile
SAML2Int asks for: RSA-SHA256 over SHA-256 digests, exclusive canonicalisation,
one enveloped signature per element (SAML core 5.4). Assertions are encrypted here too
(XML Encryption 1.1: AES-GCM or AES-CBC content, RSA-OAEP key transport).

Every document from outside goes through :func:`parse_xml`: no DTD (so no entity
expansion, "billion laughs" or external entities), no network, a size cap.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterable
from typing import Any

import xmlsec
from lxml import etree
from saml2.sigver import SignatureError

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XENC_NS = "http://www.w3.org/2001/04/xmlenc#"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
MAX_MESSAGE = 512 * 1024  # a SAML protocol message is a few kilobytes

# XML Encryption algorithms we produce, in our order of preference.
AES256_GCM = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
AES128_GCM = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
AES256_CBC = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
AES128_CBC = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
_CONTENT: dict[str, tuple[Any, int]] = {
    AES256_GCM: (xmlsec.constants.TransformAes256Gcm, 256),
    AES128_GCM: (xmlsec.constants.TransformAes128Gcm, 128),
    AES256_CBC: (xmlsec.constants.TransformAes256Cbc, 256),
    AES128_CBC: (xmlsec.constants.TransformAes128Cbc, 128),
}
CONTENT_ALGORITHMS = tuple(_CONTENT)
RSA_OAEP = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"

_C14N = (xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformExclC14NWithComments)
_SIGNATURE_METHODS = (
    xmlsec.constants.TransformRsaSha256,
    xmlsec.constants.TransformRsaSha384,
    xmlsec.constants.TransformRsaSha512,
    xmlsec.constants.TransformEcdsaSha256,
    xmlsec.constants.TransformEcdsaSha384,
    xmlsec.constants.TransformEcdsaSha512,
)
_DIGESTS = (
    xmlsec.constants.TransformSha256,
    xmlsec.constants.TransformSha384,
    xmlsec.constants.TransformSha512,
)


class UnsafeXml(ValueError):
    """The document is not well-formed, too big, or declares a DTD."""


def parse_xml(data: bytes | str, max_size: int = MAX_MESSAGE) -> Any:
    """The root element of ``data``, parsed without DTD, entities or network access."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > max_size:
        raise UnsafeXml(f"document of {len(raw)} bytes (limit {max_size})")
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise UnsafeXml("documents with a DTD are refused")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=max_size > 10 * 1024 * 1024,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(raw, parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise UnsafeXml(f"not well-formed XML: {exc}") from exc
    if root is None or root.getroottree().docinfo.doctype:
        raise UnsafeXml("documents with a DTD are refused")
    return root


_key_lock = threading.Lock()
_private_keys: dict[tuple[str, float], xmlsec.Key] = {}


def _private_key(key_file: str, cert_file: str | None = None) -> xmlsec.Key:
    """The signing key, loaded once per file version (``xmlsec`` copies it per context)."""
    stamp = (f"{key_file}|{cert_file or ''}", os.stat(key_file).st_mtime)
    with _key_lock:
        key = _private_keys.get(stamp)
        if key is None:
            key = xmlsec.Key.from_file(key_file, xmlsec.constants.KeyDataFormatPem)
            if cert_file:
                key.load_cert_from_file(cert_file, xmlsec.constants.KeyDataFormatPem)
            _private_keys[stamp] = key
        return key


def public_key(cert: str, *, is_file: bool) -> xmlsec.Key:
    """A verification key from a PEM certificate (a file name or the PEM text)."""
    fmt = xmlsec.constants.KeyDataFormatCertPem
    return xmlsec.Key.from_file(cert, fmt) if is_file else xmlsec.Key.from_memory(cert, fmt)


def pem_certificate(b64: str) -> str:
    """A PEM certificate from the base64 body of a ds:X509Certificate (64-column lines)."""
    body = "".join(b64.split())
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join(["-----BEGIN CERTIFICATE-----", *lines, "-----END CERTIFICATE-----", ""])


def element_by_id(root: Any, node_id: str) -> Any:
    found = root.xpath("//*[@ID=$id]", id=node_id)
    if len(found) != 1:
        raise SignatureError(f"{len(found)} elements with ID {node_id!r}")
    return found[0]


def _own_signature(node: Any) -> Any:
    signatures = node.findall(f"{{{DS_NS}}}Signature")
    if len(signatures) != 1:
        raise SignatureError(f"{len(signatures)} enveloped signatures")
    return signatures[0]


def sign_element(root: Any, node_id: str, key_file: str, cert_file: str | None = None) -> None:
    """Sign, in place, the element of ``root`` whose ID is ``node_id``, using the
    signature template it holds as a direct child (pysaml2's ``pre_signature_part``)."""
    sign_node(element_by_id(root, node_id), key_file, cert_file)


def sign_node(node: Any, key_file: str, cert_file: str | None = None) -> None:
    """Sign ``node`` in place (its ID attribute, the template it holds as a direct
    child): for the messages we build, whose IDs are fresh, no search by ID."""
    context = xmlsec.SignatureContext()
    context.register_id(node, "ID")
    context.key = _private_key(key_file, cert_file)
    context.sign(_own_signature(node))


def add_signature_template(node: Any, cert_b64: str | None, after: Iterable[str] = ()) -> Any:
    """Put an RSA-SHA256 enveloped signature template in ``node`` (after the children
    named in ``after``, e.g. the Issuer, as the SAML schemas order them)."""
    signature = xmlsec.template.create(
        node, xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformRsaSha256, ns="ds"
    )
    ref = xmlsec.template.add_reference(
        signature, xmlsec.constants.TransformSha256, uri="#" + node.get("ID")
    )
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformExclC14N)
    if cert_b64:
        key_info = xmlsec.template.ensure_key_info(signature)
        data = xmlsec.template.add_x509_data(key_info)
        cert = etree.SubElement(data, f"{{{DS_NS}}}X509Certificate")
        cert.text = cert_b64
    names = set(after)
    position = 0
    for index, child in enumerate(node):
        if isinstance(child.tag, str) and etree.QName(child).localname in names:
            position = index + 1
    node.insert(position, signature)
    return signature


def verify_element(node: Any, key: xmlsec.Key, *, whole_document: bool = False) -> bool:
    """Whether ``node`` carries exactly one valid enveloped signature over itself, by
    ``key`` only (never a key found in the document), with the SAML profile's algorithms.

    The one Reference must name the node's ID (SAML core 5.4.2); ``whole_document``
    also accepts ``URI=""`` on a document root (aggregates signed without an ID)."""
    try:
        signature = _own_signature(node)
    except SignatureError:
        return False
    node_id = node.get("ID")
    refs = signature.findall(f"{{{DS_NS}}}SignedInfo/{{{DS_NS}}}Reference")
    if len(refs) != 1:
        return False
    uri = refs[0].get("URI")
    by_id = bool(node_id) and uri == f"#{node_id}"
    if not by_id and not (whole_document and uri == "" and node.getparent() is None):
        return False
    if signature.find(f"{{{DS_NS}}}Object") is not None:
        return False
    context = xmlsec.SignatureContext()
    if node_id:
        context.register_id(node, "ID")
    for transform in (*_C14N, xmlsec.constants.TransformEnveloped, *_DIGESTS):
        context.enable_reference_transform(transform)
    for transform in (*_C14N, *_SIGNATURE_METHODS):
        context.enable_signature_transform(transform)
    context.key = key
    try:
        context.verify(signature)
    except xmlsec.Error:
        return False
    return True


@functools.lru_cache(maxsize=512)
def _keys_manager(cert_pem: str) -> tuple[xmlsec.KeysManager, threading.Lock]:
    """A keys manager holding one SP's encryption key (10 ms to build: kept)."""
    manager = xmlsec.KeysManager()
    manager.add_key(public_key(cert_pem, is_file=False))
    return manager, threading.Lock()


def encrypt_element(node: Any, cert_pem: str, algorithm: str = AES256_GCM) -> Any:
    """Replace ``node`` by a saml:EncryptedAssertion holding it encrypted for the
    certificate ``cert_pem`` (content ``algorithm``, session key by RSA-OAEP).

    The element is encrypted as a document of its own, so that the ciphertext declares
    every namespace it uses (libxmlsec serialises a node without its ancestors'
    declarations; the SP would decrypt an element with unbound prefixes)."""
    transform, bits = _CONTENT[algorithm]
    standalone = etree.fromstring(etree.tostring(node), etree.XMLParser(resolve_entities=False))
    template = xmlsec.template.encrypted_data_create(
        standalone, transform, type=xmlsec.constants.TypeEncElement, ns="xenc"
    )
    xmlsec.template.encrypted_data_ensure_cipher_value(template)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(template, ns="ds")
    encrypted_key = xmlsec.template.add_encrypted_key(key_info, xmlsec.constants.TransformRsaOaep)
    xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_key)
    manager, lock = _keys_manager(cert_pem)
    with lock:
        context = xmlsec.EncryptionContext(manager)
        context.key = xmlsec.Key.generate(
            xmlsec.constants.KeyDataAes, bits, xmlsec.constants.KeyDataTypeSession
        )
        encrypted = context.encrypt_xml(template, standalone)
    wrapper = etree.Element(f"{{{SAML_NS}}}EncryptedAssertion", nsmap={"saml": SAML_NS})
    wrapper.append(encrypted)
    node.getparent().replace(node, wrapper)
    return wrapper
