"""The SAML 2.0 identity provider's pages (``/idp``, issue #18), on the CAS session.

| module | what |
|---|---|
| ``sso`` | /idp/metadata, /idp/sso (Redirect and POST), /idp/unsolicited, /idp/resume[/mfa] |
| ``answer`` | the CAS sign-in checked, the rules applied, the Response signed and sent |
| ``consent`` | /idp/consent: what will be released, accepted once or remembered, or refused |
| ``slo`` | /idp/slo: an SP's LogoutRequest, the LogoutResponses to our logout frames |
| ``participants`` | the SPs of an ending SSO session, told by frames (``end_browser_session``) |
| ``pending`` | the request waiting for the sign-in, sealed in the resume URL, single use |
| ``pages`` | the error page, the auto-submitted form |

The protocol rules are :mod:`cas_server.protocol.saml2`'s, the XML and the
signatures :mod:`cas_server.saml`'s (pysaml2); the views parse, call them
and render. The views are imported by :func:`init_app` only: ``login_flow``
imports :mod:`.participants`, and the views import ``login_flow``.
"""

from __future__ import annotations

import re

from flask import Flask

from ...accounts.i18n import N_
from ...protocol.cas.services import RegisteredService
from ...settings.server import Settings
from .blueprint import MFA_SERVICE_ID, SERVICE_ID

# Translated where the console shows them (web/admin/overview.py).
DESCRIPTION = N_("Built in: SAML 2.0 identity provider")
MFA_DESCRIPTION = N_("Built in: SAML 2.0 identity provider, second factor required")


def _service(
    settings: Settings, service_id: str, path: str, description: str, *, mfa: bool, order: int
) -> RegisteredService:
    return RegisteredService(
        id=service_id,
        name=settings.institution_name,
        url_pattern=re.compile(re.escape(settings.public_url + path) + r"(\?.*)?"),
        evaluation_order=order,  # before any configured pattern
        release_attributes=(("uid", "uid"),),
        # Single logout of SAML SPs is this server's (participants), not a CAS callback.
        logout_type="none",
        description=description,
        mfa_required=mfa,
        # An operator acting as someone (#15) never signs in to a SAML SP as them.
        surrogate=False,
    )


def internal_services(settings: Settings) -> list[RegisteredService]:
    """The CAS services the SAML sign-ins come back to (``/idp/resume``): built in, like
    the console's. The second one requires a second factor (REFEDS MFA asked, or an
    SP whose policy says ``mfa_required``)."""
    return [
        _service(settings, SERVICE_ID, "/idp/resume", DESCRIPTION, mfa=False, order=-999_999),
        _service(
            settings, MFA_SERVICE_ID, "/idp/resume/mfa", MFA_DESCRIPTION, mfa=True, order=-999_998
        ),
    ]


def init_app(app: Flask) -> None:
    from . import consent, slo, sso  # noqa: F401  (routes)
    from .blueprint import bp

    app.register_blueprint(bp)


__all__ = [
    "DESCRIPTION",
    "MFA_DESCRIPTION",
    "MFA_SERVICE_ID",
    "SERVICE_ID",
    "init_app",
    "internal_services",
]
