"""The SAML 2.0 identity provider the web layer talks to (Web Browser SSO profile,
SAML profiles 4.1; Single Logout profile 4.4), over the rules of
``cas_server.protocol.saml2``.

It parses what SPs send into the rules' small frozen objects and turns the rules'
decisions into signed messages (:class:`Outgoing`). It keeps no per-request state:
gunicorn's threads share one instance; the metadata store is swapped whole by
:class:`~.metadata.MetadataSources`, and our metadata XML is cached under a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT

from ..observability.metrics import SAML_RESPONSES, labelled
from ..protocol.cas.ports import Clock
from ..protocol.saml2.errors import (
    STATUS_SUCCESS,
    BadRequest,
    RequestDenied,
    SamlError,
    UnknownServiceProvider,
)
from ..protocol.saml2.policy import ServiceProvider
from ..protocol.saml2.ports import SamlParticipant
from ..protocol.saml2.requests import AuthnRequestInfo
from ..settings.saml import SamlSettings
from . import assertions, decryption, entities, soap
from .idp_metadata import build_metadata, certificate_body
from .inbound import (
    LogoutRequestInfo,
    LogoutResponseInfo,
    Transport,
    authn_request_info,
    check_issue_instant,
    logout_request_info,
    logout_response_info,
    read,
)
from .messages import encode_post, redirect_query
from .metadata import HttpGet, MetadataSources, default_http_get

__all__ = [
    "LogoutRequestInfo",
    "LogoutResponseInfo",
    "Outgoing",
    "SamlIdentityProvider",
    "build_identity_provider",
]


@dataclass(frozen=True)
class Outgoing:
    """What the web layer sends to the browser."""

    binding: str  # BINDING_HTTP_POST: auto-submit form; BINDING_HTTP_REDIRECT: 302 to url
    url: str  # form action, or the full Location for a redirect
    fields: Mapping[str, str] = field(default_factory=dict)


def _public_url(settings: SamlSettings) -> str:
    suffix = "/idp/metadata"
    if settings.entity_id.endswith(suffix):
        return settings.entity_id[: -len(suffix)]
    return settings.organization_url.rstrip("/")


class SamlIdentityProvider:
    def __init__(
        self,
        settings: SamlSettings,
        sources: MetadataSources,
        clock: Clock,
        *,
        public_url: str | None = None,
    ) -> None:
        if settings.signing is None:
            raise ValueError("[saml] needs a signing key pair")
        self.settings = settings
        self.sources = sources
        self.clock = clock
        self.public_url = (public_url or _public_url(settings)).rstrip("/")
        self.sso_url = f"{self.public_url}/idp/sso"
        self.slo_url = f"{self.public_url}/idp/slo"
        self.signer = assertions.Signer(
            settings.signing.key_file, certificate_body(settings.signing.cert_file)
        )
        self._lock = threading.Lock()
        self._metadata: tuple[float, bytes] | None = None
        self._providers: tuple[int, dict[str, ServiceProvider]] = (-1, {})

    # -- metadata --------------------------------------------------------------------

    def metadata_xml(self) -> bytes:
        """Our signed EntityDescriptor, rebuilt when a tenth of its validity has passed."""
        now = self.clock.now()
        with self._lock:
            cached = self._metadata
            if cached is None or now - cached[0] > self.settings.metadata_validity / 10:
                cached = self._metadata = (now, build_metadata(self.settings, self.public_url, now))
            return cached[1]

    def _entity(self, entity_id: str) -> Mapping[str, Any]:
        try:
            entity: Mapping[str, Any] = self.sources.store[entity_id]
        except (KeyError, TypeError) as exc:
            raise UnknownServiceProvider(f"no metadata for {entity_id[:200]}") from exc
        return entity

    def _cache(self) -> dict[str, ServiceProvider]:
        version = self.sources.version
        with self._lock:
            if self._providers[0] != version:
                self._providers = (version, {})
            return self._providers[1]

    def service_provider(self, entity_id: str) -> ServiceProvider | None:
        cache = self._cache()
        found = cache.get(entity_id)
        if found is None:
            try:
                entity = self._entity(entity_id)
            except UnknownServiceProvider:
                return None
            source = self.sources.source_of(entity_id) or ""
            found = cache[entity_id] = entities.service_provider(entity_id, entity, source)
        return found

    def service_providers(self) -> list[ServiceProvider]:
        seen: dict[str, ServiceProvider] = {}
        for metadata in list(self.sources.store.metadata.values()):
            for entity_id in list(metadata.keys()):
                if entity_id not in seen:
                    provider = self.service_provider(entity_id)
                    if provider is not None:
                        seen[entity_id] = provider
        return list(seen.values())

    # -- single sign-on -----------------------------------------------------------------

    def _read(self, transport: Transport, param: str, expected: str, destination: str) -> Any:
        def must_sign_authn(entity: Mapping[str, Any]) -> bool:
            return entities.authn_requests_signed(entity)

        def must_sign_logout(entity: Mapping[str, Any]) -> bool:
            return bool(entities.signing_certificates(entity))  # profiles 4.4.4.1

        must = must_sign_authn if expected == "AuthnRequest" else must_sign_logout
        message, entity = read(
            transport,
            param,
            expected,
            self._entity,
            entities.signing_certificates,
            destination=destination,
            must_sign=must,
        )
        check_issue_instant(message.root, self.clock.now(), self.settings.clock_skew)
        return message, entity

    def parse_authn_request(
        self,
        binding: str,
        saml_request: str,
        relay_state: str | None,
        sig_alg: str | None = None,
        signature: str | None = None,
        query_string: str | None = None,
    ) -> AuthnRequestInfo:
        transport = Transport(binding, saml_request, relay_state, sig_alg, signature, query_string)
        message, entity = self._read(transport, "SAMLRequest", "AuthnRequest", self.sso_url)
        return authn_request_info(message, entity, relay_state)

    def unsolicited_request(
        self, provider_id: str, shire: str | None, target: str | None
    ) -> AuthnRequestInfo:
        """IdP-initiated SSO (profiles 4.1.5), with Shibboleth's parameter names."""
        if not provider_id:
            raise BadRequest("no providerId")
        entity = self._entity(provider_id)
        acs = entities.choose_consumer(entity, shire or None, None, None)
        return AuthnRequestInfo(
            sp_entity_id=provider_id,
            request_id=None,
            acs_url=acs.location,
            acs_binding=acs.binding,
            relay_state=target or None,
        )

    def _subject(self, sp_entity_id: str, name_id: str, name_id_format: str) -> assertions.Subject:
        return assertions.Subject(name_id, name_id_format, sp_entity_id, self.settings.entity_id)

    def _post(self, url: str, param: str, xml: bytes, relay_state: str | None) -> Outgoing:
        fields = {param: encode_post(xml)}
        if relay_state:
            fields["RelayState"] = relay_state
        return Outgoing(BINDING_HTTP_POST, url, fields)

    def authn_response(
        self,
        request: AuthnRequestInfo,
        *,
        name_id: str,
        name_id_format: str,
        attributes: Mapping[str, tuple[str, ...]],
        authn_context: str,
        authn_instant: float,
        session_index: str,
        encrypt: bool,
    ) -> Outgoing:
        """A signed Response with a signed assertion, encrypted when ``encrypt`` (the
        rules decided it; the SP's metadata must then have an encryption key)."""
        entity = self._entity(request.sp_entity_id)
        encrypt_for = entities.encryption_key(entity) if encrypt else None
        if encrypt and encrypt_for is None:
            labelled(SAML_RESPONSES, "RequestDenied").inc()
            raise RequestDenied("encryption asked but the SP publishes no usable key")
        xml = assertions.authn_response(
            signer=self.signer,
            subject=self._subject(request.sp_entity_id, name_id, name_id_format),
            acs_url=request.acs_url,
            in_response_to=request.request_id,
            attributes=attributes,
            authn_context=authn_context,
            authn_instant=authn_instant,
            session_index=session_index,
            now=self.clock.now(),
            lifetime=self.settings.assertion_lifetime,
            encrypt_for=encrypt_for,
        )
        labelled(SAML_RESPONSES, "success").inc()
        return self._post(request.acs_url, "SAMLResponse", xml, request.relay_state)

    def error_response(self, request: AuthnRequestInfo, error: SamlError) -> Outgoing:
        """A signed Response carrying the error's status to the SP's (checked) ACS.
        An error that may not be answered is raised again, for the error page."""
        if not error.answerable:
            raise error
        xml = assertions.status_response(
            signer=self.signer,
            issuer=self.settings.entity_id,
            destination=request.acs_url,
            in_response_to=request.request_id,
            status=error.status,
            substatus=error.substatus,
            now=self.clock.now(),
        )
        labelled(SAML_RESPONSES, type(error).__name__).inc()
        return self._post(request.acs_url, "SAMLResponse", xml, request.relay_state)

    # -- single logout ------------------------------------------------------------------

    def parse_logout_request(
        self,
        binding: str,
        saml_request: str,
        relay_state: str | None,
        sig_alg: str | None = None,
        signature: str | None = None,
        query_string: str | None = None,
    ) -> LogoutRequestInfo:
        transport = Transport(binding, saml_request, relay_state, sig_alg, signature, query_string)
        message, _ = self._read(transport, "SAMLRequest", "LogoutRequest", self.slo_url)
        return logout_request_info(
            message,
            relay_state,
            binding,
            self.clock.now() - self.settings.clock_skew,
            decryption.key_files(self.settings),  # an EncryptedID (Shibboleth SP)
        )

    def parse_logout_response(
        self,
        binding: str,
        saml_response: str,
        relay_state: str | None,
        sig_alg: str | None = None,
        signature: str | None = None,
        query_string: str | None = None,
    ) -> LogoutResponseInfo:
        transport = Transport(binding, saml_response, relay_state, sig_alg, signature, query_string)
        message, _ = self._read(transport, "SAMLResponse", "LogoutResponse", self.slo_url)
        return logout_response_info(message, relay_state)

    def _redirect(self, location: str, param: str, xml: bytes, relay_state: str | None) -> Outgoing:
        query = redirect_query(param, xml, relay_state, self.signer.key_file)
        glue = "&" if urlsplit(location).query else "?"
        return Outgoing(BINDING_HTTP_REDIRECT, f"{location}{glue}{query}", {})

    def logout_request(self, participant: SamlParticipant) -> Outgoing | None:
        """Our LogoutRequest to one SP of the session (front channel: Redirect binding
        preferred, for a frame); None when the SP has no SingleLogoutService."""
        try:
            entity = self._entity(participant.sp_entity_id)
        except UnknownServiceProvider:
            return None
        endpoint = entities.logout_endpoint(entity, BINDING_HTTP_REDIRECT)
        if endpoint is None:
            return None
        redirect = endpoint.binding == BINDING_HTTP_REDIRECT
        _, xml = assertions.logout_request(
            signer=None if redirect else self.signer,
            subject=self._subject(
                participant.sp_entity_id, participant.name_id, participant.name_id_format
            ),
            destination=endpoint.location,
            session_index=participant.session_index,
            now=self.clock.now(),
            lifetime=self.settings.assertion_lifetime,
        )
        if redirect:
            return self._redirect(endpoint.location, "SAMLRequest", xml, None)
        return self._post(endpoint.location, "SAMLRequest", xml, None)

    def soap_logout_request(self, participant: SamlParticipant) -> soap.SoapMessage | None:
        """Our XML-signed LogoutRequest for the SP's SOAP SingleLogoutService (back
        channel, when a session ends without its browser); None when it has none."""
        try:
            entity = self._entity(participant.sp_entity_id)
        except UnknownServiceProvider:
            return None
        endpoint = soap.soap_logout_endpoint(entity)
        if endpoint is None:
            return None
        _, xml = assertions.logout_request(
            signer=self.signer,
            subject=self._subject(
                participant.sp_entity_id, participant.name_id, participant.name_id_format
            ),
            destination=endpoint.location,
            session_index=participant.session_index,
            now=self.clock.now(),
            lifetime=self.settings.assertion_lifetime,
        )
        return soap.SoapMessage(participant.sp_entity_id, endpoint.location, soap.envelope(xml))

    def logout_response(
        self,
        request: LogoutRequestInfo,
        status: str = STATUS_SUCCESS,
        substatus: str | None = None,
    ) -> Outgoing:
        """Our LogoutResponse to the SP's SingleLogoutService (its ResponseLocation when
        given), by the binding the request came with when the SP offers it; ``substatus``
        is a second-level StatusCode (core 3.2.2.2), e.g. UnknownPrincipal."""
        entity = self._entity(request.sp_entity_id)
        endpoint = entities.logout_endpoint(entity, request.binding)
        if endpoint is None:
            raise BadRequest("the SP's metadata has no SingleLogoutService")
        location = endpoint.response_location or endpoint.location
        redirect = endpoint.binding == BINDING_HTTP_REDIRECT
        xml = assertions.status_response(
            signer=self.signer,
            issuer=self.settings.entity_id,
            destination=location,
            in_response_to=request.request_id,
            status=status,
            substatus=substatus,
            now=self.clock.now(),
            name="LogoutResponse",
            sign=not redirect,
        )
        if redirect:
            return self._redirect(location, "SAMLResponse", xml, request.relay_state)
        return self._post(location, "SAMLResponse", xml, request.relay_state)


def build_identity_provider(
    settings: SamlSettings,
    http: HttpGet | Any | None,
    clock: Clock,
    *,
    public_url: str | None = None,
    background: bool = True,
) -> SamlIdentityProvider:
    """The identity provider with its metadata sources loaded (files and cached
    aggregates, no network) and, with ``background``, refreshed in a daemon thread.

    ``http`` is ``http_get(url, max_size) -> bytes``, or an object with the
    ``outbound.http.HttpClient`` attributes (``verify``, ``timeout``), or None."""
    http_get: HttpGet
    if callable(http):
        http_get = http
    else:
        timeout = getattr(http, "timeout", 30.0)
        http_get = default_http_get(
            timeout=timeout if isinstance(timeout, int | float | tuple) else 30.0,
            verify=getattr(http, "verify", True),
        )
    sources = MetadataSources(settings, http_get, clock)
    sources.load()
    if background:
        sources.start_background()
    return SamlIdentityProvider(settings, sources, clock, public_url=public_url)
