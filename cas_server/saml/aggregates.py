"""Checking a federation aggregate (SAML metadata 2.3.1) before anything in it is
believed: the pinned certificate's signature over the root, a future ``validUntil``;
then only its SP entries, flattened for pysaml2's store."""

from __future__ import annotations

import copy
import logging
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lxml import etree
from saml2 import md as saml2_md
from saml2.attribute_converter import ac_factory
from saml2.mdstore import InMemoryMetaData
from saml2.validate import valid_instance

from ..settings.saml import FederationSource
from .signing import UnsafeXml, parse_xml, public_key, verify_element

MD_NS = saml2_md.NAMESPACE
ENTITY = f"{{{MD_NS}}}EntityDescriptor"
ENTITIES = f"{{{MD_NS}}}EntitiesDescriptor"
SPSSO = f"{{{MD_NS}}}SPSSODescriptor"
log = logging.getLogger(__name__)


class MetadataError(Exception):
    """A source could not be read, verified or parsed (the message goes to the status)."""


def iso_time(text: str) -> float:
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def service_providers_only(root: Any) -> bytes:
    """The entity descriptors with an SP role, flattened into one EntitiesDescriptor
    (pysaml2 reads no nested EntitiesDescriptor, and IdP entries are not our business).
    The root's namespace declarations are kept: values such as ``xsi:type`` use them."""
    if root.tag == ENTITY:
        entities = [root]
    else:
        entities = [e for e in root.iter(ENTITY) if e.find(SPSSO) is not None]
    out = etree.Element(ENTITIES, nsmap={**root.nsmap, "md": MD_NS})
    for entity in entities:
        out.append(copy.deepcopy(entity))
    return bytes(etree.tostring(out, encoding="UTF-8"))


def parse_entities(data: bytes, label: str) -> InMemoryMetaData:
    """pysaml2's store of the entities, each checked on its own: one malformed entry in
    a federation of thousands drops that entry, not the federation (pysaml2's own
    parse checks the whole tree at once and keeps nothing when one part is wrong)."""
    metadata = InMemoryMetaData(ac_factory(), check_validity=True)
    try:
        parsed = saml2_md.entities_descriptor_from_string(data.decode("utf-8"))
    except Exception as exc:  # pysaml2 raises SAMLError, ValueError, ParseError…
        raise MetadataError(f"{label}: not SAML metadata ({type(exc).__name__})") from exc
    if parsed is None:
        raise MetadataError(f"{label}: not SAML metadata")
    refused = 0
    for entity in parsed.entity_descriptor:
        try:
            valid_instance(entity)
            metadata.do_entity_descriptor(entity)
        except Exception:  # NotValid, or pysaml2's conversion failing on one entry
            refused += 1
    if refused:
        log.warning("SAML metadata %s: %d malformed entity descriptor(s) skipped", label, refused)
        if not len(metadata):
            raise MetadataError(f"{label}: no valid entity ({refused} malformed)")
    return metadata


def verify_aggregate(data: bytes, source: FederationSource, now: float) -> tuple[bytes, float]:
    """The SP entities of a federation aggregate and its validUntil, or MetadataError."""
    try:
        root = parse_xml(data, max_size=source.max_size)
    except UnsafeXml as exc:
        raise MetadataError(str(exc)) from exc
    if root.tag not in (ENTITIES, ENTITY):
        raise MetadataError("not a SAML metadata document")
    try:
        key = public_key(source.cert_file, is_file=True)
    except Exception as exc:  # xmlsec.Error, OSError
        raise MetadataError(f"cannot read the pinned certificate {source.cert_file}") from exc
    if not verify_element(root, key, whole_document=True):
        raise MetadataError("signature missing or not made by the pinned certificate")
    valid_until = root.get("validUntil")
    if not valid_until:
        raise MetadataError("no validUntil: refused")
    try:
        until = iso_time(valid_until)
    except ValueError as exc:
        raise MetadataError("unreadable validUntil") from exc
    if until <= now:
        raise MetadataError(f"expired (validUntil {valid_until})")
    return service_providers_only(root), until


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
