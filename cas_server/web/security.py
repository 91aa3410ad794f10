"""Security headers, CSRF, and clear 4xx pages instead of stack traces."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import unquote_to_bytes

from flask import Flask, current_app, g, request
from flask.globals import request_ctx
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, CSRFProtect
from markupsafe import escape
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from ..accounts.i18n import N_
from ..protocol.cas.ports import StoreUnavailable
from .theming import render_page

log = logging.getLogger(__name__)
csrf = CSRFProtect()


def allow_form_action(origin: str) -> None:
    """Let this response's page post a form to a service (method=POST, 2.2.4)."""
    g.csp_form_action = origin


def allow_frames(origins: Iterable[str]) -> None:
    """Let this response's page frame these origins, and only them (front-channel logout).

    ``origins`` are ``scheme://host[:port]`` checked by ``protocol.urls.origin``.
    """
    g.csp_frame_src = " ".join(sorted(set(origins))) or None


CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action {form_action}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
DEFAULT_CSP = CSP.format(form_action="'self'")
# Login URLs carry the service, redirects carry tickets: never leak them.
FIXED_HEADERS = (
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000")
NO_STORE = ("Cache-Control", "no-store")


def header_list(
    *, secure: bool, path: str, form_action: str | None = None, frame_src: str | None = None
) -> list[tuple[str, str]]:
    """The security headers of a response (the fast path adds the same ones).

    ``frame_src``: the origins a logout page frames (front-channel logout);
    without it ``default-src 'self'`` applies to frames.
    """
    csp = CSP.format(form_action=f"'self' {form_action}") if form_action else DEFAULT_CSP
    if frame_src:
        csp = f"{csp}; frame-src {frame_src}"
    wanted = [("Content-Security-Policy", csp), *FIXED_HEADERS]
    if secure:
        wanted.append(HSTS)
    if not path.startswith("/themes/"):
        wanted.append(NO_STORE)
    return wanted


def security_headers(response: Response) -> Response:
    """Adds each header the view did not set itself (one pass: this runs on every request)."""
    headers = response.headers
    present = {name.lower() for name in headers.keys()}  # noqa: SIM118 - Headers, not a dict
    wanted = header_list(
        # An https public URL means HSTS even when TLS ends at a proxy in front.
        secure=current_app.extensions["cas"].settings.hsts(request.is_secure),
        path=request.path,
        form_action=g.get("csp_form_action"),
        frame_src=g.get("csp_frame_src"),
    )
    for name, value in wanted:
        if name.lower() not in present:
            headers.add(name, value)
    return response


ERROR_TEXT = {
    400: (
        N_("Bad request"),
        N_("The request could not be understood. Please go back and try again."),
    ),
    403: (N_("Forbidden"), N_("You are not allowed to see this page.")),
    404: (N_("Page not found"), N_("The page you asked for does not exist.")),
    405: (N_("Method not allowed"), N_("This address does not accept this kind of request.")),
    413: (N_("Request too large"), N_("The request is too large.")),
    429: (N_("Too many requests"), N_("Too many attempts. Please wait a moment and try again.")),
    500: (N_("Internal error"), N_("Something went wrong on our side. Please try again later.")),
    503: (
        N_("Service temporarily unavailable"),
        N_(
            "The authentication service is temporarily unavailable. "
            "Please try again in a few minutes."
        ),
    ),
}


UNREADABLE_TITLE = N_("Unreadable characters")
UNREADABLE_MESSAGE = N_(
    "The form holds characters that could not be read (use UTF-8). "
    "Please go back, check what you typed and try again."
)
FORM_MIMETYPE = "application/x-www-form-urlencoded"
# Server-to-server endpoints that read their own body (/samlValidate's SOAP).
OWN_BODY_BLUEPRINTS = frozenset(("validate",))


def form_is_unreadable() -> bool:
    """Whether this request's urlencoded form is not UTF-8 (a raw or %-encoded latin-1 byte).

    Werkzeug drops such a body whole when a raw byte is there (the form reads
    empty, and the CSRF check then says "session expired"), and keeps a
    %-escape it cannot decode as the text ``%E9`` (the view then sees
    ``caf%E9``). Neither is what the user typed: the form is refused instead.
    Percent-decoding the whole body at once is enough: ``&`` and ``=`` are
    ASCII, so no UTF-8 sequence spans two fields. The body is at most
    MAX_CONTENT_LENGTH and is cached: the form is parsed from the same bytes.
    """
    if request.mimetype != FORM_MIMETYPE or request.blueprint in OWN_BODY_BLUEPRINTS:
        return False
    raw = request.get_data(cache=True)
    if raw.isascii() and b"%" not in raw:
        return False  # the common case: nothing to decode
    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _mangled_by_decoding() -> bool:
    """A multipart field Werkzeug decoded with U+FFFD for bytes that are not UTF-8."""
    return any("\ufffd" in value for value in request.form.values())


def error_page(
    status: int, title: str | None = None, message: str | None = None
) -> tuple[str, int]:
    default_title, default_message = ERROR_TEXT.get(status, ERROR_TEXT[400])
    if request_ctx.url_adapter is None:
        # The request could not be routed at all (e.g. a malformed Host header):
        # the themed page cannot build its links, so a bare page, still not a 500.
        return f"<!doctype html><title>{status}</title><p>{escape(_(default_title))}</p>", status
    manager = getattr(current_app, "login_manager", None)
    if status == 503 and manager is not None and "_login_user" not in g:
        # The page about a database outage must not need the database: a
        # signed-in user not loaded yet is shown the anonymous page (not a 500).
        g._login_user = manager.anonymous_user()
    return render_page(
        "error.html",
        status=status,
        title=title or _(default_title),
        message=message or _(default_message),
    )


def unreadable_form_page() -> tuple[str, int]:
    """The 400 page of a form that is not UTF-8, in the user's language."""
    return error_page(400, _(UNREADABLE_TITLE), _(UNREADABLE_MESSAGE))


def _refuse_unreadable_form() -> tuple[str, int] | None:
    if request.method in ("POST", "PUT", "PATCH") and form_is_unreadable():
        return unreadable_form_page()
    return None


def init_app(app: Flask) -> None:
    # Before the CSRF check, which reads the form: every form (login, Sésame,
    # profile, console) gets this answer, before its view sees a mangled value.
    app.before_request(_refuse_unreadable_form)
    csrf.init_app(app)
    app.after_request(security_headers)

    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError) -> tuple[str, int]:
        # A multipart token field with a byte that is not UTF-8 (the console's
        # upload form checks its token in the view): the same answer.
        if request.mimetype == "multipart/form-data" and _mangled_by_decoding():
            return unreadable_form_page()
        return error_page(
            400,
            _("Session expired"),
            _(
                "Your session expired or the form was sent twice. "
                "Please go back, reload the page and try again."
            ),
        )

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> tuple[str, int] | HTTPException:
        if error.code is None or error.code < 400:
            return error
        return error_page(error.code if error.code in ERROR_TEXT else 400)

    @app.errorhandler(SQLAlchemyError)
    def _database(error: SQLAlchemyError) -> tuple[str, int]:
        log.error("database error: %s", error.__class__.__name__, exc_info=error)
        return error_page(503)

    @app.errorhandler(StoreUnavailable)
    def _store(error: StoreUnavailable) -> tuple[str, int]:
        # Redis or the directory is down (already logged by the adapter).
        log.error("store unavailable: %s", error)
        return error_page(503)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> tuple[str, int]:
        # Never a stack trace for the user; the log has it.
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_page(500)
