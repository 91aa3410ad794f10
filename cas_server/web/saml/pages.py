"""What the browser gets: a message to an SP (auto-submitted form or redirect), or a page.

An error no SAML response can carry (a malformed or unsigned request, an
unknown SP, a replay: :attr:`SamlError.answerable` False) is a 4xx page in
the person's language, never the raw log text; the others go back to the
SP's ACS as a SAML status (SAML core 3.2.2.2).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from flask import current_app, make_response, redirect, request
from flask_babel import get_locale
from flask_babel import gettext as _
from jinja2 import Template
from markupsafe import escape
from werkzeug.wrappers import Response

from ...accounts.i18n import N_
from ...protocol.cas.urls import origin
from ...protocol.saml2.errors import (
    RequestReplayed,
    SamlError,
    UnknownServiceProvider,
)
from ...protocol.saml2.requests import AuthnRequestInfo
from ...runtime.container import container
from ...runtime.themes import institution_name, theme_template
from ...saml.idp import Outgoing
from ..cas.login_support import client_ip
from ..security import DEFAULT_CSP, allow_form_action
from ..theming import render_page
from .blueprint import BINDING_HTTP_POST, bp
from .pending import PendingExpired

log = logging.getLogger(__name__)

TITLES = {
    "unknown": N_("Unknown service"),
    "replayed": N_("Request already used"),
    "bad": N_("Invalid request"),
    "expired": N_("Sign-in expired"),
    "refused": N_("Access refused"),
}
MESSAGES = {
    "unknown": N_(
        "The service that sent you here is not known to this identity provider: it is not "
        "in the federation's metadata nor declared here. Go back to the service and tell "
        "its help desk."
    ),
    "replayed": N_(
        "This sign-in request was already answered. Go back to the service and sign in again "
        "from there."
    ),
    "bad": N_(
        "The service sent a sign-in or sign-out request this server cannot accept (malformed, "
        "unsigned or not addressed to it). Go back to the service and try again; if it goes "
        "on, tell the service's help desk."
    ),
    "expired": N_(
        "This step of your sign-in has expired or was already used. Go back to the service "
        "and sign in again from there."
    ),
    "refused": N_("This service does not accept your account, or not in this session."),
}


def page(kind: str, status: int = 400, service_name: str | None = None) -> Response:
    return make_response(
        *render_page(
            "saml/error.html",
            status=status,
            code=status,
            title=_(TITLES[kind]),
            message=_(MESSAGES[kind]),
            service_name=service_name,
        )
    )


def error_page(error: SamlError) -> Response:
    """The page of an error that cannot be answered to the SP."""
    log.info("SAML request refused: %s: %s", error.__class__.__name__, error)
    if isinstance(error, UnknownServiceProvider):
        return page("unknown")
    if isinstance(error, RequestReplayed):
        return page("replayed")
    return page("bad")


# The views answer their errors themselves; these catch what slips through: a SAML
# error or a dead key is a 4xx page, never a 500.
@bp.errorhandler(SamlError)
def saml_error_page(error: SamlError) -> Response:
    return error_page(error)


@bp.errorhandler(PendingExpired)
def expired_page(error: PendingExpired) -> Response:
    return page("expired")


# The POST page, rendered once per theme chain, language, institution, script root and
# number of fields with markers in place of the values (a NUL, which no template writes),
# as its literal parts: each answer joins them with the escaped values. The result is
# the template's own rendering (Jinja escapes with markupsafe's ``escape`` too).
_SLOT = re.compile("\x00slot[0-9]+\x00")
_SHELLS: dict[tuple[object, ...], list[str]] = {}
_SHELLS_KEPT = 64


def _shell(template: Template, lang: str, count: int) -> list[str]:
    """The page's literal parts, or [] for a theme whose page they cannot make."""
    # A template reloaded (debug) is another object: its parts are made afresh.
    key = (template, lang, institution_name(), request.script_root, count)
    parts = _SHELLS.get(key)
    if parts is None:
        slots = [f"\x00slot{n}\x00" for n in range(1 + 2 * count)]
        html = template.render(
            current_lang=lang,
            institution_name=institution_name(),
            action=slots[0],
            fields={slots[1 + 2 * n]: slots[2 + 2 * n] for n in range(count)},
        )
        # A theme that moves or repeats a value: rendered whole every time.
        parts = _SLOT.split(html) if _SLOT.findall(html) == slots else []
        if len(_SHELLS) >= _SHELLS_KEPT:
            _SHELLS.clear()
        _SHELLS[key] = parts
    return parts


def post_page(action: str, fields: Mapping[str, str]) -> str:
    """The auto-submitted form of the HTTP-POST binding (``saml/post.html``).

    Every single sign-on answer is this page: it is not rendered through
    ``render_template`` and the application's context processors, only from its
    parts (:func:`_shell`), or, for a theme whose page they cannot make, from the
    template with the few names it uses."""
    template = current_app.jinja_env.get_template(theme_template("saml/post.html"))
    lang = str(get_locale() or container().settings.default_language)
    parts = _shell(template, lang, len(fields))
    if not parts:
        return template.render(
            current_lang=lang,
            institution_name=institution_name(),
            action=action,
            fields=fields,
        )
    values = [action, *(text for pair in fields.items() for text in pair)]
    # str(): a Markup plus a str would escape the template's own markup.
    escaped = (str(escape(value)) + part for value, part in zip(values, parts[1:], strict=True))
    return parts[0] + "".join(escaped)


def send(outgoing: Outgoing) -> Response:
    """A message to an SP, by its binding: an auto-submitted form (POST), else a redirect."""
    if outgoing.binding == BINDING_HTTP_POST:
        target = origin(outgoing.url)
        if target is not None:
            allow_form_action(target)
        return make_response(post_page(outgoing.url, outgoing.fields))
    return redirect(outgoing.url, code=302)


def outcome_code(error: Exception) -> str:
    """The audit trail's outcome for a refusal: ``RequestDenied`` → ``request_denied``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", error.__class__.__name__).lower()


def audit_refusal(info: AuthnRequestInfo, error: Exception, login: str | None = None) -> None:
    container().audit.record(
        "saml_assertion",
        outcome_code(error),
        login=login,
        ip=client_ip(),
        details={"sp": info.sp_entity_id[:300]},
    )


def answer_error(info: AuthnRequestInfo, error: SamlError, login: str | None = None) -> Response:
    """A SAML error status to the SP's ACS, or the error page when none can be sent."""
    audit_refusal(info, error, login)
    if not error.answerable:
        return error_page(error)
    c = container()
    assert c.saml is not None
    try:
        outgoing = c.saml.error_response(info, error)
    except SamlError as failed:
        return error_page(failed)
    return send(outgoing)


def frameable(response: Response) -> Response:
    """This page may be shown in a frame of this server's own pages (the logout frames)."""
    response.headers["Content-Security-Policy"] = DEFAULT_CSP.replace(
        "frame-ancestors 'none'", "frame-ancestors 'self'"
    )
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
