"""pysaml2 objects of the tests (the in-process SP) with libxmlsec1 in this process.

pysaml2's own backend starts the ``xmlsec1`` program for every signature check;
:class:`InProcessCrypto` verifies and signs with the server's own functions
(:mod:`cas_server.saml.signing`), so an in-process pysaml2 SP checks our responses
quickly and with the same refusal of wrapped signatures. The server itself never
goes through pysaml2's crypto backends.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from saml2.sigver import CryptoBackendXmlSec1, SignatureError

from cas_server.saml.signing import (
    UnsafeXml,
    element_by_id,
    parse_xml,
    public_key,
    sign_element,
    verify_element,
)


class InProcessCrypto(CryptoBackendXmlSec1):  # type: ignore[misc]
    """pysaml2's crypto backend with signing and verification done in-process.

    Encryption and decryption keep pysaml2's xmlsec1-program path: the SP decrypts
    our encrypted assertions with the ``xmlsec1`` program, as a deployed pysaml2 SP does."""

    def __init__(self, xmlsec_binary: str = "") -> None:
        super().__init__(xmlsec_binary or "xmlsec1")

    def sign_statement(
        self, statement: Any, node_name: str, key_file: str, node_id: str | None
    ) -> str:
        root = parse_xml(str(statement) if not isinstance(statement, bytes) else statement)
        if node_id is None:
            node_id = root.get("ID")
        sign_element(root, node_id, key_file)
        return str(etree.tostring(root, encoding="unicode"))

    def validate_signature(
        self,
        signedtext: Any,
        cert_file: str,
        cert_type: str,
        node_name: str,
        node_id: str | None,
    ) -> bool:
        if cert_type != "pem":
            raise SignatureError(f"certificate type {cert_type!r}")
        try:
            root = parse_xml(signedtext)
            node = root if node_id is None else element_by_id(root, node_id)
        except (UnsafeXml, SignatureError):
            return False
        namespace, _, local = node_name.rpartition(":")
        qname = etree.QName(node)
        if (qname.namespace, qname.localname) != (namespace, local):
            return False
        return verify_element(node, public_key(cert_file, is_file=True))
