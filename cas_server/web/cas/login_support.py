"""Pieces shared by the login views: parameters, cookies, redirects, the form."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import wraps

from flask import current_app, make_response, redirect, request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from ...protocol.cas.errors import ServiceNotAuthorized
from ...protocol.cas.services import RegisteredService
from ...protocol.cas.tickets import ServiceTicket, TicketGrantingTicket
from ...protocol.cas.urls import flag, has_control_character, origin, with_parameter
from ...runtime.container import container
from .. import dates
from ..security import allow_form_action, error_page
from ..theming import render_page, use_service_theme

METHODS = ("GET", "POST", "HEADER")
WARN_COOKIE = "CASPRIVACY"
MAX_FIELD = 4096


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
    def parse(cls, values: Mapping[str, str]) -> LoginRequest:
        service = values.get("service") or None
        # A control character (CR, LF, NUL, DEL, C1…) never belongs in a URL and
        # would split the Location header: refused here, so the fast path
        # (which parses with this too) and the views answer the same 400.
        if service is not None and (len(service) > MAX_FIELD or has_control_character(service)):
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


def locked_message(until: float) -> str:
    """The lock's end in the user's language, in words, in the institution's zone."""
    return str(
        _(
            "Too many failed attempts. For your security, sign-in is suspended until %(time)s.",
            time=dates.when(until),
        )
    )


def client_ip() -> str | None:
    return request.remote_addr


def cookie_secure() -> bool:
    """``Secure`` for this server's cookies: ``[cookies] secure``, or the public URL's scheme."""
    return container().settings.secure_cookies(request.is_secure)


def cookie_path() -> str:
    return request.script_root or "/"


def set_tgc(response: Response, tgt: TicketGrantingTicket) -> None:
    response.set_cookie(
        container().settings.tgc_name,
        tgt.id,
        # A session cookie unless remember-me was chosen (3.6.1, 4.1.5).
        max_age=int(tgt.expires_at - tgt.created_at) if tgt.authentication.long_term else None,
        path=cookie_path(),
        secure=cookie_secure(),
        httponly=True,
        samesite="Lax",
    )


def clear_tgc(response: Response) -> None:
    response.delete_cookie(
        container().settings.tgc_name,
        path=cookie_path(),
        secure=cookie_secure(),
        httponly=True,
        samesite="Lax",
    )


def unauthorized(error: ServiceNotAuthorized) -> tuple[str, int]:
    return render_page(
        "service_unauthorized.html", status=403, service=error.service[:300], reason=error.reason
    )


def allow_return_to(service: str | None) -> None:
    """This page's form may end in a redirect to the service: let the CSP allow it.

    ``form-action`` also governs the redirects that follow a form's
    submission (Chromium enforces it): with ``'self'`` alone, the sign-in,
    charter, password-change and warning forms could not send the browser
    back to its service.
    """
    source = origin(service) if service else None
    if source is not None:
        allow_form_action(source)


def redirect_to_service(ticket: ServiceTicket, method: str | None) -> Response:
    """Send the user back with the ticket, as the service asked (2.2.4)."""
    if ticket.authentication.surrogate:
        audit_surrogate_ticket(ticket)
    if method == "POST":
        allow_return_to(ticket.service)
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


def audit_surrogate_ticket(ticket: ServiceTicket) -> None:
    """Each ticket of an impersonation session is in the trail (#15); every Flask
    grant ends here, and the fast path hands such sessions to Flask."""
    c = container()
    target = ticket.authentication.principal.id
    account = c.accounts.find_by_login(target)
    c.audit.record(
        "impersonation_ticket",
        "success",
        account_uuid=account.uuid if account else None,
        login=target,
        actor=ticket.authentication.surrogate,
        ip=client_ip(),
        details={"service": ticket.service[:300], "service_id": ticket.service_id},
    )


def login_links() -> list[tuple[str, str]]:
    """Links under the form ("Mot de passe oublié ?"…), given by the modules that serve them."""
    providers = current_app.extensions.get("cas_login_links", [])
    return [link for provider in providers for link in provider()]


def login_form(
    params: LoginRequest,
    registered: RegisteredService | None,
    *,
    username: str = "",
    error: str | None = None,
    status: int = 200,
    public: bool = True,
) -> tuple[str, int]:
    settings = container().settings.login
    if registered is not None:
        allow_return_to(params.service)
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
        public=public,
        remember_me_offered=settings.remember_me,
        public_minutes=int(settings.public_idle_timeout // 60),
        private_hours=f"{settings.private_idle_timeout / 3600:g}",
    )


def resolve_service(params: LoginRequest) -> RegisteredService | None:
    if params.service is None:
        return None
    registered = container().login.authorize_service(params.service)
    use_service_theme(registered.theme)
    return registered


Page = Response | tuple[str, int]


def with_login_request(
    view: Callable[[LoginRequest, RegisteredService | None], Page],
) -> Callable[[], Page]:
    """A /login view, given its parameters (a POST's from its form, else from the
    query) and the service they name; a bad parameter is answered 400 and a
    service not allowed here 403, before the view."""

    @wraps(view)
    def parsed() -> Page:
        values = request.form if request.method == "POST" else request.args
        try:
            params = LoginRequest.parse(values)
        except BadLoginRequest as exc:
            return error_page(400, message=_("Invalid parameter: %(name)s", name=str(exc)))
        try:
            registered = resolve_service(params)
        except ServiceNotAuthorized as exc:
            return unauthorized(exc)
        return view(params, registered)

    return parsed
