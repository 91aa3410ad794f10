"""The ``saml`` blueprint (``/idp``), in a module of its own: the view modules and the
package that registers them (``init_app``) do not import each other."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("saml", "cas_server.web.saml", url_prefix="/idp")

# The SAML 2.0 bindings (saml-bindings 3.4, 3.5): the same URNs as ``saml2``'s constants.
BINDING_HTTP_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_HTTP_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"

# The built-in CAS services of the SAML sign-ins (``internal_services``).
SERVICE_ID = "saml-idp"
MFA_SERVICE_ID = "saml-idp-mfa"
