"""/login and /logout (CAS Protocol 3.0 sections 2.1 to 2.3)."""

from __future__ import annotations

from flask import Blueprint, make_response, redirect, request, session
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from ...accounts.i18n import N_
from ...auth import Failure, Rejected, Success, Unavailable
from ...auth.throttled import throttled_authenticate, typed_key
from ...protocol.cas.errors import SecondFactorRequired, ServiceNotAuthorized
from ...protocol.cas.services import RegisteredService
from ...protocol.cas.urls import flag, has_control_character
from ...runtime.container import container
from ..security import error_page
from ..theming import render_page, use_service_theme
from . import mfa_enrol, mfa_pages
from .login_flow import PendingLogin, allow_front_channel, continue_login, end_browser_session
from .login_support import (
    MAX_FIELD,
    WARN_COOKIE,
    LoginRequest,
    allow_return_to,
    clear_tgc,
    client_ip,
    cookie_path,
    locked_message,
    login_form,
    redirect_to_service,
    unauthorized,
    with_login_request,
)

bp = Blueprint("cas", __name__)
# The second factor's pages: /login/mfa… (mfa_enrol's routes are on the same blueprint).
_ENROL_ROUTES = mfa_enrol.enrol
bp.register_blueprint(mfa_pages.bp, url_prefix="/login/mfa")

FAILURE_MESSAGES = {
    # Also what a locked account reads when the directory cannot say whether
    # the password was right, or when its budget of attempts is spent: the
    # guidance is here, for everyone alike.
    Failure.INVALID_CREDENTIALS: N_(
        "Invalid identifier or password. An account can also be blocked, for instance after "
        "too many failed attempts: try again later, use “Forgotten password” or contact "
        "the help desk."
    ),
    Failure.LOCKED: N_("Your account is locked. Please contact the help desk."),
    Failure.DISABLED: N_("Your account is disabled. Please contact the help desk."),
    Failure.NOT_ACTIVATED: N_("Your account is not activated yet. Please activate it first."),
    Failure.EXPIRED: N_(
        "Your temporary password has expired. Ask for a new one with “Forgotten password”."
    ),
}


@bp.get("/login")
@with_login_request
def login(params: LoginRequest, registered: RegisteredService | None) -> Response | tuple[str, int]:
    c = container()
    tgc = request.cookies.get(c.settings.tgc_name)
    warn = params.warn or bool(request.cookies.get(WARN_COOKIE))
    if tgc and registered is not None and not params.renew and not warn:
        # The hot path of single sign-on: one transaction checks the session,
        # touches it and stores the ticket; no separate read first.
        try:
            ticket = c.login.grant_from_session(tgc, params.service or "", registered)
        except ServiceNotAuthorized as exc:
            return unauthorized(exc)
        except SecondFactorRequired:
            return _second_factor(params, registered, tgc)
        if ticket is not None:
            return redirect_to_service(ticket, params.method)
    tgt = c.login.current_session(tgc) if tgc else None

    if tgt is not None and not params.renew:
        if registered is None:
            principal = tgt.authentication.principal
            return render_page(
                "logged_in.html",
                display_name=principal.attributes.get("displayName", (principal.id,))[0],
                login=principal.id,
            )
        if warn:
            allow_return_to(params.service)
            fields = {"service": params.service or "", "sso": "continue"}
            if params.method:
                fields["method"] = params.method
            return render_page(
                "warn.html",
                service_name=registered.name,
                service=params.service,
                continue_fields=fields,
            )
        return _single_sign_on(params, registered, tgt.id)

    if params.gateway and not params.renew and registered is not None and params.service:
        # Gateway (2.1.1): no session, no credentials asked, back to the service without a ticket.
        return redirect(params.service, code=302)

    response = make_response(*login_form(params, registered))
    if tgc and tgt is None:
        clear_tgc(response)
    return response


def _single_sign_on(
    params: LoginRequest, registered: RegisteredService, tgt_id: str
) -> Response | tuple[str, int]:
    assert params.service is not None
    try:
        ticket = container().login.grant_from_session(tgt_id, params.service, registered)
    except ServiceNotAuthorized as exc:
        return unauthorized(exc)
    except SecondFactorRequired:
        return _second_factor(params, registered, tgt_id)
    if ticket is None:  # the session ended between the two reads
        response = make_response(*login_form(params, registered))
        clear_tgc(response)
        return response
    return redirect_to_service(ticket, params.method)


def _second_factor(
    params: LoginRequest, registered: RegisteredService, tgt_id: str
) -> Response | tuple[str, int]:
    """A password-only session and a service that requires a second factor: the step-up
    (the second factor only), or with ``gateway`` back to the service without a ticket."""
    if params.gateway and params.service:
        return redirect(params.service, code=302)  # CAS 3.0 2.1.1: never ask
    tgt = container().login.current_session(tgt_id)
    if tgt is None:  # the session ended meanwhile
        response = make_response(*login_form(params, registered))
        clear_tgc(response)
        return response
    return mfa_pages.start_step_up(params, tgt)


@bp.post("/login")
@with_login_request
def login_submit(
    params: LoginRequest, registered: RegisteredService | None
) -> Response | tuple[str, int]:
    if request.form.get("sso") == "continue" and registered is not None:
        # The user confirmed the warn page: single sign-on, no credentials.
        tgc = request.cookies.get(container().settings.tgc_name) or ""
        return _single_sign_on(params, registered, tgc)

    username = request.form.get("username", "").strip()[:MAX_FIELD]
    password = request.form.get("password", "")[:MAX_FIELD]
    public = request.form.get("computer", "public") != "private"
    if not username or not password:
        return login_form(
            params,
            registered,
            username=username[:128],
            error=_("Please enter your identifier and your password."),
            status=400,
            public=public,
        )
    return _authenticate(params, registered, username, password, public)


_locked_message = locked_message


def _authenticate(
    params: LoginRequest,
    registered: RegisteredService | None,
    username: str,
    password: str,
    public: bool,
) -> Response | tuple[str, int]:
    c = container()
    key = typed_key(username)
    ip = client_ip() or "unknown"
    now = c.clock.now()  # the console reads the same clock (lock levels, "suspended until")

    def form(error: str, status: int) -> tuple[str, int]:
        return login_form(
            params, registered, username=username[:128], error=error, status=status, public=public
        )

    # Each attempt is reserved (typed login, address, then the account the
    # source finds) before the password is looked at, atomically: a burst gets
    # no more checks than the limit. A locked login or address is refused
    # whether or not the account exists: no oracle, no enumeration.
    attempt = throttled_authenticate(
        c.user_source, c.login_throttle, c.ip_throttle, username, password, ip, now
    )
    result = attempt.result
    if result is None:
        assert attempt.locked_until is not None
        c.audit.record("login", "throttled", login=key, ip=ip)
        return form(_locked_message(attempt.locked_until), 429)
    if isinstance(result, Unavailable):
        c.audit.record("login", "unavailable", login=key, ip=ip)
        return error_page(503)
    if isinstance(result, Rejected):
        told = attempt.told
        details = {"account_locked": True} if attempt.account_locked else None
        c.audit.record(
            "login",
            result.reason.value,
            account_uuid=told.account.uuid if told and told.account else None,
            login=key,
            ip=ip,
            details=details,
        )
        if told is not None:
            # The password was right: the account's state may be told.
            return form(_(FAILURE_MESSAGES[told.reason]), 401)
        # Anything else reads as a wrong password (a directory's lock, which
        # comes whatever the password; an account whose budget is spent).
        if attempt.locked_until is not None:
            c.audit.record(
                "login_lock", "locked", login=key, ip=ip, details={"until": attempt.locked_until}
            )
            return form(_locked_message(attempt.locked_until), 429)
        return form(_(FAILURE_MESSAGES[Failure.INVALID_CREDENTIALS]), 401)

    assert isinstance(result, Success)
    remember = (
        # rememberMe: CAS 3.0 2.2.2 (and the checkbox); remember: themes from before it.
        flag(request.form.get("rememberMe", request.form.get("remember")))
        and c.settings.login.remember_me
    )
    pending = PendingLogin.begin(
        result.account,  # its password epoch: a write before the end cancels the sign-in
        service=params.service if registered is not None else None,
        method=params.method,
        warn=params.warn,
        public=public and not remember,
        remember=remember,
        started=now,
    )
    return continue_login(pending)


def _logout_link(url: str | None) -> tuple[str | None, RegisteredService | None]:
    """``/logout?url=``: the URL and its service when it may be shown, else (None, None).

    Only an enabled registered service's http(s) URL: a broad pattern must
    not turn the logged-out page into a ``javascript:`` link, and an
    unregistered one is not advertised on this server's page.
    """
    if not url or len(url) > MAX_FIELD or not url.lower().startswith(("https://", "http://")):
        return None, None
    registered = container().services.find_enabled(url)
    return (url, registered) if registered is not None else (None, None)


@bp.get("/logout")
def logout() -> Response | tuple[str, int]:
    """Logout (2.3): the session ends; redirect only to a registered service (2.3.1)."""
    c = container()
    tgc = request.cookies.get(c.settings.tgc_name)
    # Front-channel services are told by this page: hidden frames load their URLs.
    front_channel = end_browser_session(tgc) if tgc else []
    session.clear()
    service = request.args.get("service")
    # CAS 2.0 clients send ``url``: never followed, but refused like ``service``
    # when it holds a control character. The session has ended all the same.
    for name in ("service", "url"):
        if has_control_character(request.args.get(name, "")):
            refused = make_response(
                *error_page(400, message=_("Invalid parameter: %(name)s", name=name))
            )
            clear_tgc(refused)
            refused.delete_cookie(WARN_COOKIE, path=cookie_path())
            return refused
    registered = None
    if service and len(service) <= MAX_FIELD:
        registered = c.services.find_enabled(service)
    continue_url = service if registered is not None else None
    # CAS 2.0 ``url`` (2.3.1), when ``service`` does not name a registered
    # service: a registered service's URL is shown as a link for the user to
    # follow, never followed by this server.
    link_url = None
    if registered is None:
        link_url, registered = _logout_link(request.args.get("url"))
    if registered is not None:
        use_service_theme(registered.theme)
    if continue_url and not front_channel:
        response = redirect(continue_url, code=302)
    else:
        # With a service, the page shows the way back (and goes on by itself
        # once the frames are loaded), so that the frames get a chance to load.
        allow_front_channel(front_channel)
        response = make_response(
            *render_page(
                "logout.html",
                front_channel=front_channel,
                continue_url=continue_url,
                link_url=link_url,
            )
        )
    clear_tgc(response)
    response.delete_cookie(WARN_COOKIE, path=cookie_path())
    return response
