"""SAML test keys and SP metadata, shared by every SAML test (tests/saml, web, e2e, browser).

Stable API (add, don't rename):

``key_pair(name) -> TestKeyPair``
    An RSA-2048 key and a self-signed certificate (CN = name), generated with
    ``cryptography`` once per test process into one temporary folder (files 0600) and
    cached: the same name gives the same files for the whole session. Any name works;
    the usual ones: ``"idp"``, ``"idp-encryption"``, ``"idp-next"`` (rollover),
    ``"sp"``, ``"sp2"``, ``"federation"`` (signs test aggregates), ``"stranger"``.
    ``TestKeyPair`` has ``key_file``, ``cert_file`` (paths), ``cert_pem`` (text) and
    ``cert_b64`` (the base64 body, as it appears in ``ds:X509Certificate``).

``sp_config(entity_id, acs_url, *, keys="sp", idp_metadata=None, ...) -> dict``
    A pysaml2 ``SPConfig`` dictionary: POST ACS at ``acs_url``, optional SLO endpoint,
    signing key + encryption key (``encryption=True`` publishes an encryption
    KeyDescriptor, so an IdP with policy "metadata" encrypts), ``idp_metadata`` (the
    IdP's metadata XML, inline) so the SP can check our signatures.

``sp_metadata(entity_id, acs_url, **same options) -> str``
    The SP's EntityDescriptor XML (pysaml2's ``entity_descriptor``).

``write_sp_metadata(path, entity_id, acs_url, **same options) -> Path``
    Writes that XML to ``path`` (a file for ``[saml] sp_files``) and returns the path.

``sp_client(entity_id, acs_url, idp_metadata, **same options) -> saml2.client.Saml2Client``
    An in-process pysaml2 SP that trusts ``idp_metadata``.

``aggregate(entity_descriptors, *, name=..., valid_until=..., signed_by="federation",
by_id=True) -> bytes``
    A federation aggregate (md:EntitiesDescriptor) of the given EntityDescriptor XML
    strings, with ``validUntil`` (a POSIX time; ``None`` omits it), signed (RSA-SHA256,
    exclusive c14n, enveloped) with ``key_pair(signed_by)``; ``signed_by=None`` leaves
    it unsigned; ``by_id=False`` signs the whole document (``URI=""``, no ID).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"


@dataclass(frozen=True)
class TestKeyPair:
    __test__ = False  # not a pytest class
    name: str
    key_file: str
    cert_file: str
    cert_pem: str
    cert_b64: str


@functools.cache
def _folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="saml-keys-"))


@functools.cache
def key_pair(name: str) -> TestKeyPair:
    """A key pair named ``name``, the same one for the whole test process."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    folder = _folder()
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
    key_path, cert_path = folder / f"{safe}.key", folder / f"{safe}.crt"
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    for path, data in ((key_path, key_pem), (cert_path, cert_pem)):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    der = cert.public_bytes(serialization.Encoding.DER)
    return TestKeyPair(
        name, str(key_path), str(cert_path), cert_pem.decode(), base64.b64encode(der).decode()
    )


def sp_config(
    entity_id: str,
    acs_url: str,
    *,
    keys: str = "sp",
    encryption_keys: str | None = None,
    idp_metadata: str | bytes | None = None,
    slo_url: str | None = None,
    encryption: bool = True,
    authn_requests_signed: bool = False,
    want_assertions_signed: bool = True,
    want_response_signed: bool = True,
    name_id_formats: Iterable[str] = (),
    required_attributes: Iterable[str] = (),
    optional_attributes: Iterable[str] = (),
    entity_categories: Iterable[str] = (),
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A pysaml2 SP configuration dictionary (see the module docstring)."""
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT

    pair = key_pair(keys)
    enc = key_pair(encryption_keys) if encryption_keys else pair
    endpoints: dict[str, Any] = {"assertion_consumer_service": [(acs_url, BINDING_HTTP_POST)]}
    if slo_url:
        endpoints["single_logout_service"] = [
            (slo_url, BINDING_HTTP_REDIRECT),
            (slo_url, BINDING_HTTP_POST),
        ]
    sp: dict[str, Any] = {
        "endpoints": endpoints,
        "authn_requests_signed": authn_requests_signed,
        "want_assertions_signed": want_assertions_signed,
        "want_response_signed": want_response_signed,
        "allow_unsolicited": True,
    }
    if name_id_formats:
        sp["name_id_format"] = list(name_id_formats)
    if required_attributes:
        sp["required_attributes"] = list(required_attributes)
    if optional_attributes:
        sp["optional_attributes"] = list(optional_attributes)
    config: dict[str, Any] = {
        "entityid": entity_id,
        "key_file": pair.key_file,
        "cert_file": pair.cert_file,
        "service": {"sp": sp},
        "metadata": {},
        "allow_unknown_attributes": True,
    }
    if encryption:
        config["encryption_keypairs"] = [{"key_file": enc.key_file, "cert_file": enc.cert_file}]
    if entity_categories:
        config["entity_category"] = list(entity_categories)
    if idp_metadata is not None:
        text = idp_metadata.decode() if isinstance(idp_metadata, bytes) else idp_metadata
        config["metadata"] = {"inline": [text]}
    if extra:
        config.update(extra)
    return config


def sp_metadata(entity_id: str, acs_url: str, **options: Any) -> str:
    """The SP's EntityDescriptor (pysaml2's own metadata writer)."""
    from saml2.config import SPConfig
    from saml2.metadata import entity_descriptor

    options.pop("idp_metadata", None)
    conf = SPConfig().load(sp_config(entity_id, acs_url, **options))
    return str(entity_descriptor(conf))


def write_sp_metadata(path: str | Path, entity_id: str, acs_url: str, **options: Any) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(sp_metadata(entity_id, acs_url, **options), encoding="utf-8")
    return target


def sp_client(entity_id: str, acs_url: str, idp_metadata: str | bytes, **options: Any) -> Any:
    """An in-process pysaml2 SP (``Saml2Client``) that trusts ``idp_metadata``."""
    from saml2.client import Saml2Client
    from saml2.config import SPConfig

    conf = SPConfig().load(sp_config(entity_id, acs_url, idp_metadata=idp_metadata, **options))
    return Saml2Client(config=conf)


def _iso(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def aggregate(
    entity_descriptors: Iterable[str],
    *,
    name: str = "https://federation.example.org/test",
    valid_until: float | None = None,
    signed_by: str | None = "federation",
    by_id: bool = True,
) -> bytes:
    """A federation aggregate of ``entity_descriptors`` (see the module docstring)."""
    import xmlsec
    from lxml import etree

    root = etree.Element(f"{{{MD_NS}}}EntitiesDescriptor", nsmap={"md": MD_NS, "ds": DS_NS})
    if by_id:
        root.set("ID", "aggregate-" + base64.b32encode(os.urandom(10)).decode().lower())
    root.set("Name", name)
    if valid_until is not None:
        root.set("validUntil", _iso(valid_until))
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    children = [etree.fromstring(text.encode(), parser) for text in entity_descriptors]
    if signed_by is not None:
        signature = xmlsec.template.create(
            root, xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformRsaSha256
        )
        root.append(signature)
        ref = xmlsec.template.add_reference(
            signature, xmlsec.constants.TransformSha256, uri=f"#{root.get('ID')}" if by_id else ""
        )
        xmlsec.template.add_transform(ref, xmlsec.constants.TransformEnveloped)
        xmlsec.template.add_transform(ref, xmlsec.constants.TransformExclC14N)
        key_info = xmlsec.template.ensure_key_info(signature)
        xmlsec.template.add_x509_data(key_info)
    for child in children:
        root.append(child)
    if signed_by is not None:
        pair = key_pair(signed_by)
        xmlsec.tree.add_ids(root, ["ID"])
        ctx = xmlsec.SignatureContext()
        key = xmlsec.Key.from_file(pair.key_file, xmlsec.constants.KeyDataFormatPem)
        key.load_cert_from_file(pair.cert_file, xmlsec.constants.KeyDataFormatPem)
        ctx.key = key
        ctx.sign(signature)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
