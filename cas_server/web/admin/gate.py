"""The console asks for a second factor (``[admin] require_mfa``, issue #14).

Two locks, the second one always there:

* The console's own registered service (:func:`console_service`): the service
  URLs of the console's sign-ins (``/_cas/callback?next=/admin…``), before the
  built-in service of the server's pages, with ``mfa_required``: no ticket
  for them from a session without a second factor (the protocol core refuses
  it and the sign-in step asks for the factor). The profile's sign-ins keep
  the built-in service (``web/console_auth.internal_service``), password only:
  people who hold no console role are not made to enrol.
* Every console page (:func:`second_factor_missing`, called by
  ``support.console``): the SSO session the console session is bound to must
  have had a second factor. It holds whatever URL a browser was sent through:
  a sign-in for ``/profile`` followed by a visit to ``/admin`` opens nothing.
"""

from __future__ import annotations

import re
from typing import Any

from flask import redirect, request, url_for
from werkzeug.routing import BuildError

from ...admin import admin
from ...protocol.cas.services import RegisteredService
from ...runtime.container import container
from ...settings.server import Settings
from ..console_auth import sign_in_url
from ..theming import render_page

CONSOLE_SERVICE_ID = "cas-console"
#: Before the built-in service of the server's pages (``console_auth``, -1 000 000).
CONSOLE_ORDER = -1_000_001


def console_service(settings: Settings) -> RegisteredService:
    """The console's sign-ins, as a built-in service of their own (see the module)."""
    callback = re.escape(settings.public_url + "/_cas/callback?next=%2Fadmin")
    section = settings.raw.get("admin", {})
    mfa = settings.raw.get("mfa", {})
    return RegisteredService(
        id=CONSOLE_SERVICE_ID,
        name=settings.institution_name,
        # ``next`` as console_auth writes it (percent-encoded): /admin, /admin/…, /admin?…
        url_pattern=re.compile(callback + r"((%2F|%3F)[^&#]*)?"),
        evaluation_order=CONSOLE_ORDER,
        release_attributes=(("uid", "uid"),),
        logout_type="none",
        description="Built in: administration console",
        mfa_required=bool(section.get("require_mfa", True)) and bool(mfa.get("enabled", True)),
        surrogate=False,  # no console from an impersonation session (#15)
    )


def console_requires_mfa() -> bool:
    return admin().settings.require_mfa and container().mfa.rules.enabled


def _session_has_second_factor() -> bool:
    c = container()
    tgc = request.cookies.get(c.settings.tgc_name)
    tgt = c.login.current_session(tgc) if tgc else None
    return tgt is not None and tgt.authentication.second_factor


def _security_page() -> str | None:
    for endpoint in ("profile.security", "profile.overview"):
        try:
            return url_for(endpoint)
        except BuildError:
            continue
    return None


def second_factor_missing() -> Any | None:
    """None when the console may open; else where the browser goes instead.

    With the console's service registered, back to the sign-in (which asks for
    the second factor); without it, a page that says what to do (no loop).
    """
    if not console_requires_mfa() or _session_has_second_factor():
        return None
    here = request.full_path.rstrip("?")
    registered = container().services.get(CONSOLE_SERVICE_ID)
    if registered is not None and registered.mfa_required and request.method == "GET":
        return redirect(sign_in_url(here), code=302)
    return render_page(
        "admin/second_factor.html",
        403,
        sign_in=sign_in_url(here if request.method == "GET" else "/admin/", renew=True),
        security=_security_page(),
    )
