"""The HTTP-Redirect and HTTP-POST bindings (SAML bindings 3.4, 3.5): encoding, size
caps, and the Redirect binding's query-string signature (3.4.4.1).

Every failure to decode is :class:`~cas_server.protocol.saml2.errors.BadRequest`.
The Redirect signature is checked over the query string exactly as the SP sent it
(bindings 3.4.4.1: "the encoded values as they appear in the query"): re-encoding
the decoded values, as pysaml2 does, refuses SPs that percent-encode differently.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import zlib
from collections.abc import Iterable
from urllib.parse import quote_plus, unquote_plus

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT

from ..protocol.saml2.errors import BadRequest

MAX_ENCODED = 256 * 1024  # base64 text of one message
MAX_INFLATED = 512 * 1024  # the XML once inflated (a deflate bomb stops here)

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
_ALGORITHMS: dict[str, tuple[str, hashes.HashAlgorithm]] = {
    RSA_SHA256: ("rsa", hashes.SHA256()),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": ("rsa", hashes.SHA384()),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": ("rsa", hashes.SHA512()),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": ("ec", hashes.SHA256()),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384": ("ec", hashes.SHA384()),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512": ("ec", hashes.SHA512()),
}
BINDINGS = (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST)


def _b64decode(value: str) -> bytes:
    if len(value) > MAX_ENCODED:
        raise BadRequest(f"encoded message of {len(value)} characters")
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest("message is not base64") from exc


def decode_message(binding: str, value: str | None) -> bytes:
    """The XML of a SAMLRequest/SAMLResponse parameter (inflated for Redirect)."""
    if not value:
        raise BadRequest("no SAML message")
    if binding not in BINDINGS:
        raise BadRequest("unsupported binding")
    raw = _b64decode(value)
    if binding == BINDING_HTTP_POST:
        if len(raw) > MAX_INFLATED:
            raise BadRequest("message too big")
        return raw
    inflater = zlib.decompressobj(-15)
    try:
        xml = inflater.decompress(raw, MAX_INFLATED)
    except zlib.error as exc:
        raise BadRequest("message is not DEFLATE-compressed") from exc
    if inflater.unconsumed_tail:
        raise BadRequest("inflated message too big")
    return xml


def encode_post(xml: bytes) -> str:
    return base64.b64encode(xml).decode("ascii")


def encode_redirect(xml: bytes) -> str:
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(deflater.compress(xml) + deflater.flush()).decode("ascii")


@functools.cache
def _signing_key(key_file: str, mtime: float) -> rsa.RSAPrivateKey:
    with open(key_file, "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{key_file}: not an RSA private key")
    return key


def redirect_query(param: str, xml: bytes, relay_state: str | None, key_file: str | None) -> str:
    """The query string of a Redirect-binding message, signed with RSA-SHA256 when
    ``key_file`` is given."""
    parts = [f"{param}={quote_plus(encode_redirect(xml))}"]
    if relay_state:
        parts.append(f"RelayState={quote_plus(relay_state)}")
    if key_file is None:
        return "&".join(parts)
    parts.append(f"SigAlg={quote_plus(RSA_SHA256)}")
    signed = "&".join(parts).encode("ascii")
    key = _signing_key(key_file, os.stat(key_file).st_mtime)
    signature = key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    return f"{signed.decode('ascii')}&Signature={quote_plus(base64.b64encode(signature).decode())}"


def _raw_parameters(query_string: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in query_string.split("&"):
        name, _, value = part.partition("=")
        if name in out:
            raise BadRequest(f"parameter {name[:40]!r} given twice")
        out[name] = value
    return out


def verify_redirect(
    param: str,
    message: str,
    relay_state: str | None,
    sig_alg: str | None,
    signature: str | None,
    query_string: str | None,
    certificates: Iterable[str],
) -> bool:
    """Whether the Redirect-binding signature verifies with one of ``certificates``
    (PEM). False when there is no signature; BadRequest when it is malformed."""
    if query_string:
        raw = _raw_parameters(query_string)
        if param not in raw or "SigAlg" not in raw or "Signature" not in raw:
            return False
        if unquote_plus(raw[param]) != message:
            raise BadRequest("query string and message differ")
        if relay_state is not None and unquote_plus(raw.get("RelayState", "")) != relay_state:
            raise BadRequest("query string and RelayState differ")
        pieces = [f"{param}={raw[param]}"]
        if "RelayState" in raw:
            pieces.append(f"RelayState={raw['RelayState']}")
        pieces.append(f"SigAlg={raw['SigAlg']}")
        sig_alg, signature = unquote_plus(raw["SigAlg"]), unquote_plus(raw["Signature"])
    else:
        if not sig_alg or not signature:
            return False
        pieces = [f"{param}={quote_plus(message)}"]
        if relay_state is not None:
            pieces.append(f"RelayState={quote_plus(relay_state)}")
        pieces.append(f"SigAlg={quote_plus(sig_alg)}")
    algorithm = _ALGORITHMS.get(sig_alg)
    if algorithm is None:
        raise BadRequest(f"signature algorithm {sig_alg[:80]!r} refused")
    kind, digest = algorithm
    signed = "&".join(pieces).encode("ascii", "replace")
    value = _b64decode(signature)
    for pem in certificates:
        try:
            key = x509.load_pem_x509_certificate(pem.encode()).public_key()
            if kind == "rsa" and isinstance(key, rsa.RSAPublicKey):
                key.verify(value, signed, padding.PKCS1v15(), digest)
            elif kind == "ec" and isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(value, signed, ec.ECDSA(digest))
            else:
                continue
        except (InvalidSignature, ValueError):
            continue
        return True
    return False
