"""Decrypting a ``saml:EncryptedID`` (SAML core 2.2.4) with our private keys.

An SP that finds an encryption key in our metadata (Shibboleth SP does) encrypts the
NameID of its LogoutRequest (core 3.7.1) for us: an ``xenc:EncryptedData`` of type
Element whose content key is an ``xenc:EncryptedKey``, either inside the
EncryptedData's ``ds:KeyInfo`` or beside it in the EncryptedID (core 2.2.4 allows both).

Callers decrypt only a message whose signature has been checked (:mod:`.inbound`), so
that an outsider cannot use our answers as a padding or key-transport oracle; and the
key transport must be RSA-OAEP (RSA PKCS#1 v1.5 is refused: Bleichenbacher's attack).

The RSA key is tried in turn from each of our pairs: the encryption pair (else the
signing one), the signing pair and the rollover one, because an SP may still hold
metadata that published one of the others for encryption. Every failure is
:class:`~cas_server.protocol.saml2.errors.BadRequest`.
"""

from __future__ import annotations

import copy
import functools
import os
import threading
from collections.abc import Sequence
from typing import Any

import xmlsec
from lxml import etree

from ..protocol.saml2.errors import BadRequest
from ..settings.saml import SamlSettings
from .signing import DS_NS, XENC_NS, UnsafeXml, parse_xml

SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
XENC11_NS = "http://www.w3.org/2009/xmlenc11#"
MAX_ENCRYPTED_KEYS = 4

# Content encryption: AES (CBC or GCM) and, for old SPs, Triple DES.
_CONTENT: dict[str, Any] = {
    f"{XENC11_NS}aes128-gcm": xmlsec.constants.KeyDataAes,
    f"{XENC11_NS}aes192-gcm": xmlsec.constants.KeyDataAes,
    f"{XENC11_NS}aes256-gcm": xmlsec.constants.KeyDataAes,
    f"{XENC_NS}aes128-cbc": xmlsec.constants.KeyDataAes,
    f"{XENC_NS}aes192-cbc": xmlsec.constants.KeyDataAes,
    f"{XENC_NS}aes256-cbc": xmlsec.constants.KeyDataAes,
    f"{XENC_NS}tripledes-cbc": xmlsec.constants.KeyDataDes,
}
# Key transport: RSA-OAEP only.
_KEY_TRANSPORT = (f"{XENC_NS}rsa-oaep-mgf1p", f"{XENC11_NS}rsa-oaep")


def key_files(settings: SamlSettings) -> tuple[str, ...]:
    """Our private key files that may decrypt, in the order they are tried."""
    pairs = (settings.encryption or settings.signing, settings.signing, settings.next_signing)
    seen: list[str] = []
    for pair in pairs:
        if pair is not None and pair.key_file not in seen:
            seen.append(pair.key_file)
    return tuple(seen)


_lock = threading.Lock()


@functools.lru_cache(maxsize=16)
def _rsa_key(key_file: str, mtime: float) -> xmlsec.Key:
    return xmlsec.Key.from_file(key_file, xmlsec.constants.KeyDataFormatPem)


def _keys(files: Sequence[str]) -> list[xmlsec.Key]:
    keys: list[xmlsec.Key] = []
    for name in files:
        try:
            with _lock:
                keys.append(_rsa_key(name, os.stat(name).st_mtime))
        except (OSError, xmlsec.Error):  # an unreadable rollover key must not stop the others
            continue
    return keys


def _algorithm(node: Any) -> str:
    method = node.find(f"{{{XENC_NS}}}EncryptionMethod")
    return str(method.get("Algorithm") or "") if method is not None else ""


def _parts(encrypted_id: Any) -> tuple[Any, list[Any]]:
    """The EncryptedData of an EncryptedID and its candidate EncryptedKeys."""
    data = encrypted_id.findall(f"{{{XENC_NS}}}EncryptedData")
    if len(data) != 1:
        raise BadRequest("EncryptedID without exactly one EncryptedData")
    encrypted_data = data[0]
    if encrypted_data.get("Type") not in (None, f"{XENC_NS}Element"):
        raise BadRequest("EncryptedID does not hold an element")
    inside = encrypted_data.findall(f"{{{DS_NS}}}KeyInfo/{{{XENC_NS}}}EncryptedKey")
    beside = encrypted_id.findall(f"{{{XENC_NS}}}EncryptedKey")
    candidates = inside + beside
    if not candidates:
        raise BadRequest("EncryptedID without an EncryptedKey")
    if len(candidates) > MAX_ENCRYPTED_KEYS:
        raise BadRequest("EncryptedID with too many EncryptedKeys")
    return encrypted_data, candidates


def _session_key(candidates: Sequence[Any], keys: Sequence[xmlsec.Key]) -> bytes | None:
    for encrypted_key in candidates:
        if _algorithm(encrypted_key) not in _KEY_TRANSPORT:
            raise BadRequest("EncryptedKey not by RSA-OAEP")
        for key in keys:
            context = xmlsec.EncryptionContext()
            context.key = key
            try:
                # A copy: decrypt() may change the tree it is given.
                value = context.decrypt(copy.deepcopy(encrypted_key))
            except xmlsec.Error:
                continue
            if isinstance(value, bytes) and value:
                return value
    return None


def _decrypted_element(encrypted_data: Any, klass: Any, session_key: bytes) -> Any:
    try:
        key = xmlsec.Key.from_binary_data(klass, session_key)
    except xmlsec.Error as exc:
        raise BadRequest("EncryptedKey holds no usable content key") from exc
    holder = etree.Element(f"{{{SAML_NS}}}EncryptedID", nsmap={"saml": SAML_NS})
    data = copy.deepcopy(encrypted_data)
    for key_info in data.findall(f"{{{DS_NS}}}KeyInfo"):
        data.remove(key_info)  # the content key is given: no lookup in the document
    holder.append(data)
    context = xmlsec.EncryptionContext()
    context.key = key
    try:
        result = context.decrypt(data)
    except xmlsec.Error as exc:
        raise BadRequest("EncryptedData does not decrypt") from exc
    text = result if isinstance(result, bytes) else etree.tostring(result)
    try:
        # Parsed again on its own, as any outside document: no DTD, a size cap.
        return parse_xml(text, max_size=16 * 1024)
    except UnsafeXml as exc:
        raise BadRequest("EncryptedID decrypts to no XML element") from exc


def decrypt_name_id(encrypted_id: Any, files: Sequence[str]) -> Any:
    """The ``saml:NameID`` element inside ``encrypted_id`` (a checked message's
    ``saml:EncryptedID``), decrypted with one of the private keys in ``files``.

    BadRequest when it does not decrypt with any of them, uses refused algorithms, or
    holds anything but one NameID (a BaseID, an Assertion, another EncryptedID)."""
    encrypted_data, candidates = _parts(encrypted_id)
    klass = _CONTENT.get(_algorithm(encrypted_data))
    if klass is None:
        raise BadRequest("EncryptedData content algorithm refused")
    try:
        session_key = _session_key(candidates, _keys(files))
    except (ValueError, TypeError) as exc:
        raise BadRequest("EncryptedKey unreadable") from exc
    if session_key is None:
        raise BadRequest("EncryptedID does not decrypt with our keys")
    try:
        element = _decrypted_element(encrypted_data, klass, session_key)
    except (ValueError, TypeError) as exc:
        raise BadRequest("EncryptedData unreadable") from exc
    if element.tag != f"{{{SAML_NS}}}NameID":
        raise BadRequest("EncryptedID does not hold a NameID")
    if any(isinstance(child.tag, str) for child in element):
        raise BadRequest("NameID with child elements")
    return element
