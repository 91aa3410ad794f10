"""The SAML 2.0 binding: pysaml2 and libxmlsec1 under the rules of :mod:`cas_server.protocol.saml2`.

Metadata (ours, signed; the service providers', from files and federation
aggregates), request parsing, signed and encrypted responses, logout messages.

| module | what |
|---|---|
| ``idp`` | ``SamlIdentityProvider`` (the web layer's entry), ``Outgoing``, ``build_…`` |
| ``inbound`` | reading AuthnRequest, LogoutRequest, LogoutResponse (``LogoutRequestInfo``…) |
| ``assertions`` | the Response, assertion and logout messages we send |
| ``metadata`` | SP metadata: files, federation aggregates (pinned key, validUntil, cache) |
| ``idp_metadata`` | our signed EntityDescriptor |
| ``entities`` | what is read in one SP's metadata entry |
| ``messages`` | the Redirect and POST bindings (encoding, caps, query signature) |
| ``signing`` | in-process XML signature and encryption (python-xmlsec), safe parsing |

The binding URNs are re-exported so that the web layer need not import ``saml2``.
"""

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT

__all__ = ["BINDING_HTTP_POST", "BINDING_HTTP_REDIRECT"]
