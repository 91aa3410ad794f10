"""/login and /logout (CAS Protocol 3.0 sections 2.1 to 2.3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import Blueprint, current_app, make_response, redirect, request, session
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from ..auth import Failure, Rejected, Success, Unavailable
from ..container import container
from ..i18n import N_
from ..protocol.errors import ServiceNotAuthorized
from ..protocol.services import RegisteredService
from ..protocol.tickets import Principal, ServiceTicket, TicketGrantingTicket
from ..protocol.urls import flag, with_parameter
from .security import allow_form_action, error_page
from .theming import render_page, use_service_theme

bp = Blueprint("cas", __name__)

METHODS = ("GET", "POST", "HEADER")
WARN_COOKIE = "CASPRIVACY"
MAX_FIELD = 4096

FAILURE_MESSAGES = {
    Failure.INVALID_CREDENTIALS: N_("Invalid identifier or password."),
    Failure.LOCKED: N_("Your account is locked. Please contact the help desk."),
    Failure.DISABLED: N_("Your account is disabled. Please contact the help desk."),
    Failure.NOT_ACTIVATED: N_("Your account is not activated yet. Please activate it first."),
}


class BadLoginRequest(ValueError):
    pass


@dataclass(frozen=True)
class LoginRequest:
    """The parameters of /login as requestor or acceptor (2.1.1, 2.2.1)."""

    service: str | None
    renew: bool
    gateway: bool
    warn: bool
    method: str | None

    @classmethod
    def parse(cls, values: MultiDict[str, str]) -> LoginRequest:
        service = values.get("service") or None
        if service is not None and (len(service) > MAX_FIELD or "\x00" in service):
            raise BadLoginRequest("service")
        method = values.get("method") or None
        if method is not None:
            method = method.upper()
            if method not in METHODS:
                raise BadLoginRequest("method")
        return cls(
            service=service,
            renew=flag(values.get("renew")),
            gateway=flag(values.get("gateway")),
            warn=flag(values.get("warn")),
            method=method,
        )


def _client_ip() -> str | None:
    return request.remote_addr


def _cookie_secure() -> bool:
    configured = container().settings.cookie_secure
    return request.is_secure if configured is None else configured


def _cookie_path() -> str:
    return request.script_root or "/"


def _set_tgc(response: Response, tgt: TicketGrantingTicket) -> None:
    settings = container().settings
    response.set_cookie(
        settings.tgc_name,
        tgt.id,
        # A session cookie unless remember-me was chosen (3.6.1).
        max_age=int(tgt.expires_at - tgt.created_at) if tgt.authentication.long_term else None,
        path=_cookie_path(),
        secure=_cookie_secure(),
        httponly=True,
        samesite="Lax",
    )


def _clear_tgc(response: Response) -> None:
    response.delete_cookie(
        container().settings.tgc_name,
        path=_cookie_path(),
        secure=_cookie_secure(),
        httponly=True,
        samesite="Lax",
    )


def _unauthorized(error: ServiceNotAuthorized) -> tuple[str, int]:
    return render_page(
        "service_unauthorized.html", status=403, service=error.service[:300], reason=error.reason
    )


def _redirect_to_service(ticket: ServiceTicket, method: str | None) -> Response:
    """Send the user back with the ticket, as the service asked (2.2.4)."""
    if method == "POST":
        parts = urlsplit(ticket.service)
        allow_form_action(f"{parts.scheme}://{parts.netloc}")
        body, status = render_page(
            "post_redirect.html", action=ticket.service, fields={"ticket": ticket.id}
        )
        return make_response(body, status)
    if method == "HEADER":
        response = make_response(_("You are signed in."), 200)
        response.headers["service"] = ticket.service
        response.headers["ticket"] = ticket.id
        return response
    return redirect(with_parameter(ticket.service, "ticket", ticket.id), code=302)


def _login_form(
    params: LoginRequest,
    registered: RegisteredService | None,
    *,
    username: str = "",
    error: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    return render_page(
        "login.html",
        status=status,
        service=params.service,
        service_name=registered.name if registered else None,
        renew=params.renew,
        warn=params.warn,
        method=params.method,
        username=username,
        error=error,
        links=login_links(),
    )


def login_links() -> list[tuple[str, str]]:
    """Links under the form ("Mot de passe oublié ?"…), given by the modules that serve them."""
    providers = current_app.extensions.get("cas_login_links", [])
    return [link for provider in providers for link in provider()]


def _resolve_service(params: LoginRequest) -> RegisteredService | None:
    if params.service is None:
        return None
    registered = container().login.authorize_service(params.service)
    use_service_theme(registered.theme)
    return registered


@bp.get("/login")
def login() -> Response | tuple[str, int]:
    try:
        params = LoginRequest.parse(request.args)
    except BadLoginRequest as exc:
        return error_page(400, message=_("Invalid parameter: %(name)s", name=str(exc)))
    try:
        registered = _resolve_service(params)
    except ServiceNotAuthorized as exc:
        return _unauthorized(exc)

    core = container().login
    tgc = request.cookies.get(container().settings.tgc_name)
    tgt = core.current_session(tgc) if tgc else None

    if tgt is not None and not params.renew:
        if registered is None:
            principal = tgt.authentication.principal
            return render_page(
                "logged_in.html",
                display_name=principal.attributes.get("displayName", (principal.id,))[0],
                login=principal.id,
            )
        if params.warn or request.cookies.get(WARN_COOKIE):
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

    response = make_response(*_login_form(params, registered))
    if tgc and tgt is None:
        _clear_tgc(response)
    return response


def _single_sign_on(
    params: LoginRequest, registered: RegisteredService, tgt_id: str
) -> Response | tuple[str, int]:
    assert params.service is not None
    try:
        ticket = container().login.grant_from_session(tgt_id, params.service, registered)
    except ServiceNotAuthorized as exc:
        return _unauthorized(exc)
    if ticket is None:  # the session ended between the two reads
        response = make_response(*_login_form(params, registered))
        _clear_tgc(response)
        return response
    return _redirect_to_service(ticket, params.method)


@bp.post("/login")
def login_submit() -> Response | tuple[str, int]:
    try:
        params = LoginRequest.parse(request.form)
    except BadLoginRequest as exc:
        return error_page(400, message=_("Invalid parameter: %(name)s", name=str(exc)))
    try:
        registered = _resolve_service(params)
    except ServiceNotAuthorized as exc:
        return _unauthorized(exc)

    if request.form.get("sso") == "continue" and registered is not None:
        # The user confirmed the warn page: single sign-on, no credentials.
        tgc = request.cookies.get(container().settings.tgc_name) or ""
        return _single_sign_on(params, registered, tgc)

    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    if not username or not password:
        return _login_form(
            params,
            registered,
            username=username[:128],
            error=_("Please enter your identifier and your password."),
            status=400,
        )
    return _authenticate(params, registered, username, password)


def _authenticate(
    params: LoginRequest, registered: RegisteredService | None, username: str, password: str
) -> Response | tuple[str, int]:
    c = container()
    result = c.user_source.authenticate(username, password)
    if isinstance(result, Unavailable):
        c.audit.record("login", "unavailable", login=username, ip=_client_ip())
        return error_page(503)
    if isinstance(result, Rejected):
        account = result.account
        c.audit.record(
            "login",
            result.reason.value,
            account_uuid=account.uuid if account else None,
            login=username,
            ip=_client_ip(),
        )
        return _login_form(
            params,
            registered,
            username=username[:128],
            error=_(FAILURE_MESSAGES[result.reason]),
            status=401,
        )
    assert isinstance(result, Success)
    account = result.account

    # A new sign-in replaces whatever session this browser had (switching accounts).
    old = request.cookies.get(c.settings.tgc_name)
    if old:
        _end_session(old)
    principal = Principal(account.login, account.principal_attributes())
    tgt = c.login.create_session(principal)
    c.accounts.record_login(account.uuid, datetime.now(UTC))
    c.audit.record(
        "login", "success", account_uuid=account.uuid, login=account.login, ip=_client_ip()
    )
    # New session id at sign-in: no fixation of the CSRF/session cookie.
    session.clear()

    response: Response
    if registered is not None and params.service:
        try:
            ticket = c.login.grant_after_login(tgt, params.service, registered)
        except ServiceNotAuthorized as exc:
            body, status = _unauthorized(exc)
            response = make_response(body, status)
        else:
            response = _redirect_to_service(ticket, params.method)
    else:
        response = make_response(
            *render_page("logged_in.html", display_name=account.display_name, login=account.login)
        )
    _set_tgc(response, tgt)
    if params.warn:
        response.set_cookie(
            WARN_COOKIE,
            "1",
            path=_cookie_path(),
            secure=_cookie_secure(),
            httponly=True,
            samesite="Lax",
        )
    return response


def _end_session(tgt_id: str) -> None:
    c = container()
    tgt = c.login.current_session(tgt_id)
    targets = c.login.end_session(tgt_id)
    if tgt is not None:
        principal = tgt.authentication.principal.id
        c.single_logout.notify(targets, principal, c.clock.now())
        c.audit.record("logout", "success", login=principal, ip=_client_ip())


@bp.get("/logout")
def logout() -> Response | tuple[str, int]:
    """Logout (2.3): the session ends; redirect only to a registered service (2.3.1)."""
    c = container()
    tgc = request.cookies.get(c.settings.tgc_name)
    if tgc:
        _end_session(tgc)
    session.clear()
    service = request.args.get("service")
    registered = None
    if service and len(service) <= MAX_FIELD:
        registered = c.services.find_enabled(service)
    if registered is not None and service:
        use_service_theme(registered.theme)
        response = redirect(service, code=302)
    else:
        response = make_response(*render_page("logout.html"))
    _clear_tgc(response)
    response.delete_cookie(WARN_COOKIE, path=_cookie_path())
    return response
