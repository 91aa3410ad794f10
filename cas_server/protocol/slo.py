"""Single logout: the SAML 2.0 LogoutRequest sent to services (CAS 3.0 2.3.3, Appendix C).

The document has exactly the shape of Appendix C (``xmlns:saml`` declared on
``saml:NameID``). Appendix C writes ``@NOT_USED@`` in ``NameID``: clients do
not read it, they log out the session of the service ticket in
``SessionIndex`` (2.3.3.2). Like Apereo CAS we put the principal id there, and
fall back to ``@NOT_USED@`` when none is given.
"""

from __future__ import annotations

import secrets

from .assertion import iso8601
from .responses import xml_attr, xml_text

SAMLP2_NAMESPACE = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML2_NAMESPACE = "urn:oasis:names:tc:SAML:2.0:assertion"
NOT_USED = "@NOT_USED@"
LOGOUT_REQUEST_PARAMETER = "logoutRequest"


def logout_request(*, session_index: str, name_id: str, now: float) -> str:
    """The Appendix C logout XML document for the service ticket ``session_index``.

    ``ID`` is fresh randomness from :mod:`secrets` (an NCName, as SAML 2.0
    requires), ``IssueInstant`` is ``now`` in UTC.
    """
    request_id = "_" + secrets.token_hex(16)
    return (
        f'<samlp:LogoutRequest xmlns:samlp="{SAMLP2_NAMESPACE}"'
        f' ID="{xml_attr(request_id)}" Version="2.0" IssueInstant="{iso8601(now)}">'
        f'<saml:NameID xmlns:saml="{SAML2_NAMESPACE}">{xml_text(name_id or NOT_USED)}</saml:NameID>'
        f"<samlp:SessionIndex>{xml_text(session_index)}</samlp:SessionIndex>"
        "</samlp:LogoutRequest>"
    )


def logout_form_body(message: str) -> dict[str, str]:
    """The form fields of the back-channel SLO POST (2.3.3): ``logoutRequest=<document>``."""
    return {LOGOUT_REQUEST_PARAMETER: message}
