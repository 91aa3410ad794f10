"""What the identity provider reads in an SP's metadata entry (pysaml2's entity dict).

Only trusted metadata is read here (the files and the verified aggregates of
:mod:`.metadata`): the ACS a response may go to (SAML metadata 2.4.4), the keys that
may sign the SP's requests and the one its assertions are encrypted for, the
single logout endpoints, the entity categories and the requested attributes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT

from ..protocol.saml2.attributes import by_name
from ..protocol.saml2.errors import BadRequest
from ..protocol.saml2.policy import SUBJECT_ID_REQ, ServiceProvider
from .signing import CONTENT_ALGORITHMS, pem_certificate

ENTITY_CATEGORY = "http://macedir.org/entity-category"
ENTITY_ATTRIBUTES = "urn:oasis:names:tc:SAML:metadata:attribute&EntityAttributes"
UIINFO = "urn:oasis:names:tc:SAML:metadata:ui&UIInfo"
LANGUAGES = ("fr", "en")


@dataclass(frozen=True)
class Endpoint:
    binding: str
    location: str
    index: str | None = None
    is_default: bool = False
    response_location: str | None = None


def sp_descriptors(entity: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(entity.get("spsso_descriptor") or [])


def _endpoints(entity: Mapping[str, Any], service: str) -> Iterator[Endpoint]:
    for descriptor in sp_descriptors(entity):
        for item in descriptor.get(service) or []:
            yield Endpoint(
                binding=str(item.get("binding", "")),
                location=str(item.get("location", "")),
                index=item.get("index"),
                is_default=str(item.get("is_default", "")).lower() in ("true", "1"),
                response_location=item.get("response_location"),
            )


def assertion_consumers(entity: Mapping[str, Any]) -> list[Endpoint]:
    """The SP's ACS that take HTTP-POST (SAML2Int: responses go by POST only)."""
    return [
        e
        for e in _endpoints(entity, "assertion_consumer_service")
        if e.binding == BINDING_HTTP_POST
    ]


def default_consumer(entity: Mapping[str, Any]) -> Endpoint | None:
    """The default ACS (metadata 2.2.3: isDefault, else the first without isDefault=false)."""
    consumers = assertion_consumers(entity)
    for endpoint in consumers:
        if endpoint.is_default:
            return endpoint
    return consumers[0] if consumers else None


def choose_consumer(
    entity: Mapping[str, Any],
    url: str | None,
    index: str | None,
    binding: str | None,
) -> Endpoint:
    """The ACS the response goes to: one the SP's metadata lists (metadata 2.4.4;
    profiles 4.1.4.1), never an address taken from the request alone."""
    if url is not None and index is not None:
        raise BadRequest("both AssertionConsumerServiceURL and Index")  # core 3.4.1
    if binding is not None and binding != BINDING_HTTP_POST:
        raise BadRequest("only the HTTP-POST binding is offered for responses")
    consumers = assertion_consumers(entity)
    if url is not None:
        for consumer in consumers:
            if consumer.location == url:
                return consumer
        raise BadRequest("AssertionConsumerServiceURL is not in the SP's metadata")
    if index is not None:
        for consumer in consumers:
            if consumer.index == index:
                return consumer
        raise BadRequest("AssertionConsumerServiceIndex is not in the SP's metadata")
    default = default_consumer(entity)
    if default is None:
        raise BadRequest("the SP's metadata has no HTTP-POST AssertionConsumerService")
    return default


def logout_endpoints(entity: Mapping[str, Any]) -> list[Endpoint]:
    return [
        e
        for e in _endpoints(entity, "single_logout_service")
        if e.binding in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST)
    ]


def logout_endpoint(
    entity: Mapping[str, Any], prefer: str = BINDING_HTTP_REDIRECT
) -> Endpoint | None:
    endpoints = logout_endpoints(entity)
    for endpoint in endpoints:
        if endpoint.binding == prefer:
            return endpoint
    return endpoints[0] if endpoints else None


def _key_descriptors(entity: Mapping[str, Any], use: str) -> Iterator[Mapping[str, Any]]:
    for descriptor in sp_descriptors(entity):
        for key in descriptor.get("key_descriptor") or []:
            if key.get("use") in (None, use):
                yield key


def _certificates(key: Mapping[str, Any]) -> Iterator[str]:
    for data in (key.get("key_info") or {}).get("x509_data") or []:
        text = ((data.get("x509_certificate") or {}).get("text") or "").strip()
        if text:
            yield "".join(text.split())


def signing_certificates(entity: Mapping[str, Any]) -> list[str]:
    """PEM certificates that may sign the SP's messages."""
    out: list[str] = []
    for key in _key_descriptors(entity, "signing"):
        out.extend(pem_certificate(c) for c in _certificates(key))
    return list(dict.fromkeys(out))


def encryption_key(entity: Mapping[str, Any]) -> tuple[str, str] | None:
    """The SP's encryption certificate (PEM) and the content algorithm to use: ours
    preferred among those its KeyDescriptor lists, AES-256-GCM when it lists none."""
    for key in _key_descriptors(entity, "encryption"):
        for cert in _certificates(key):
            listed = [str(m.get("algorithm")) for m in key.get("encryption_method") or []]
            offered = [a for a in CONTENT_ALGORITHMS if a in listed]
            if listed and not offered:
                continue  # it asks for algorithms we do not produce (3DES…)
            return pem_certificate(cert), (offered[0] if offered else CONTENT_ALGORITHMS[0])
    return None


def authn_requests_signed(entity: Mapping[str, Any]) -> bool:
    return any(
        str(d.get("authn_requests_signed", "")).lower() in ("true", "1")
        for d in sp_descriptors(entity)
    )


def entity_attributes(entity: Mapping[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for element in (entity.get("extensions") or {}).get("extension_elements") or []:
        if element.get("__class__") != ENTITY_ATTRIBUTES:
            continue
        for attribute in element.get("attribute") or []:
            values = [
                str(v.get("text", "")).strip() for v in attribute.get("attribute_value") or []
            ]
            out.setdefault(str(attribute.get("name")), []).extend(values)
    return out


def display_name(entity: Mapping[str, Any]) -> str | None:
    names: dict[str, str] = {}
    for descriptor in sp_descriptors(entity):
        for element in (descriptor.get("extensions") or {}).get("extension_elements") or []:
            if element.get("__class__") != UIINFO:
                continue
            for name in element.get("display_name") or []:
                text = str(name.get("text") or "").strip()
                if text:
                    names.setdefault(str(name.get("lang") or ""), text)
    for lang in LANGUAGES:
        if lang in names:
            return names[lang]
    return next(iter(names.values()), None)


def requested_attributes(entity: Mapping[str, Any]) -> tuple[str, ...]:
    """Friendly names (our catalog) of the attributes the SP requests, required or not."""
    out: list[str] = []
    for descriptor in sp_descriptors(entity):
        for service in descriptor.get("attribute_consuming_service") or []:
            for requested in service.get("requested_attribute") or []:
                known = by_name(str(requested.get("name", ""))) or by_name(
                    str(requested.get("friendly_name", ""))
                )
                if known is not None and known.friendly_name not in out:
                    out.append(known.friendly_name)
    return tuple(out)


def service_provider(entity_id: str, entity: Mapping[str, Any], source: str) -> ServiceProvider:
    attributes = entity_attributes(entity)
    req = attributes.get(SUBJECT_ID_REQ)
    return ServiceProvider(
        entity_id=entity_id,
        name=display_name(entity) or entity_id,
        source=source,
        categories=tuple(dict.fromkeys(attributes.get(ENTITY_CATEGORY, []))),
        requested_attributes=requested_attributes(entity),
        encryption_key=encryption_key(entity) is not None,
        slo=bool(logout_endpoints(entity)),
        subject_id_req=req[0] if req else None,
    )
