"""The two requests services make all day, answered without Flask's request machinery.

Ticket validation (``GET /validate``, ``/serviceValidate``,
``/proxyValidate``, ``/p3/…``) and single sign-on ticket issue (``GET
/login?service=…`` with a live TGC) are most of what a CAS server serves.
Through Flask each pays for an application and request context, a session,
URL routing, seven hooks and a Response object: more than the protocol
work itself (``make bench`` shows it). Here they are answered from the WSGI
environ with the same protocol core, the same answer builders
(``validate.ANSWERS``), the same security headers, request id and metrics.

Everything else goes on to Flask unchanged: other paths and methods, any
parameter the fast path does not know, and every single sign-on case that
shows a page (no session, renew, warn, an unauthorized service, a service
that requires a second factor the session lacks, a POST or HEADER
method…) and every ticket of an impersonation session (audited there).
In those cases nothing has been written when Flask takes over, so it
decides as if the fast path did not exist.
``tests/web/test_fast_path.py`` checks that both give the same answers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from markupsafe import escape
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.http import parse_cookie
from werkzeug.urls import iri_to_uri

from ...observability import metrics
from ...observability.logs import FAST_PATH_REQUEST_ID, REQUEST_ID_HEADER, new_request_id
from ...protocol.cas.errors import SecondFactorRequired, ServiceNotAuthorized, SurrogateSession
from ...protocol.cas.ports import StoreUnavailable
from ...protocol.cas.urls import with_parameter
from ...runtime.container import Container
from ..security import header_list
from .login_support import WARN_COOKIE, BadLoginRequest, LoginRequest
from .validate import ANSWERS

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# The parameters of the single sign-on fast path; any other one (``lang``…)
# sends the request to Flask.
SSO_PARAMETERS = frozenset(("service", "renew", "gateway", "warn", "method"))
STATUS = {200: "200 OK", 302: "302 FOUND", 500: "500 INTERNAL SERVER ERROR"}


class FastPath:
    """WSGI middleware in front of the Flask application."""

    def __init__(self, flask_wsgi_app: WsgiApp, extensions: Mapping[str, Any]) -> None:
        self.flask = flask_wsgi_app
        self.extensions = extensions  # the app's: read per request, tests may swap parts

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "GET":
            return self.flask(environ, start_response)
        path = environ.get("PATH_INFO", "")
        if path in ANSWERS or path == "/login":
            started = time.perf_counter()
            request_id = new_request_id(environ.get("HTTP_X_REQUEST_ID"))
            token = FAST_PATH_REQUEST_ID.set(request_id)
            try:
                answer = self._answer(environ, path)
            finally:
                FAST_PATH_REQUEST_ID.reset(token)
            if answer is not None:
                endpoint, status, headers, body = answer
                return self._send(
                    environ, start_response, endpoint, status, headers, body, request_id, started
                )
        return self.flask(environ, start_response)

    def _answer(
        self, environ: dict[str, Any], path: str
    ) -> tuple[str, int, list[tuple[str, str]], bytes] | None:
        container: Container = self.extensions["cas"]
        args = _query(environ)
        if args is None:
            return None
        if path == "/login":
            return self._single_sign_on(environ, container, args)
        endpoint, answer = ANSWERS[path]
        try:
            text, content_type = answer(container.validator, args)
        except Exception:  # the Flask views would give their 500 page; so does this
            log.exception("unexpected error on GET %s", path)
            return endpoint, 500, [("Content-Type", "text/plain; charset=utf-8")], _ERROR
        return endpoint, 200, [("Content-Type", content_type)], text.encode()

    def _single_sign_on(
        self, environ: dict[str, Any], container: Container, args: dict[str, str]
    ) -> tuple[str, int, list[tuple[str, str]], bytes] | None:
        """A ticket from the live session and a 302 to the service, or None for Flask."""
        if not args.keys() <= SSO_PARAMETERS:
            return None
        try:
            params = LoginRequest.parse(args)
        except BadLoginRequest:
            return None
        if (
            params.service is None
            or params.renew
            or params.warn
            or params.method
            not in (
                None,
                "GET",
            )
        ):
            return None
        cookies = parse_cookie(environ)
        tgc = cookies.get(container.settings.tgc_name)
        if not tgc or cookies.get(WARN_COOKIE):
            return None
        try:
            registered = container.login.authorize_service(params.service)
            # A surrogate session (an operator acting as someone, #15) goes to
            # Flask, which audits each of its tickets.
            ticket = container.login.grant_from_session(
                tgc, params.service, registered, allow_surrogate=False
            )
        except (
            ServiceNotAuthorized,
            SecondFactorRequired,
            SurrogateSession,
            SQLAlchemyError,
            StoreUnavailable,
        ):
            # Nothing was stored: Flask shows the page or the error, or asks
            # for the second factor the service requires.
            return None
        if ticket is None:
            return None  # the session has ended: Flask shows the form and clears the cookie
        location = with_parameter(ticket.service, "ticket", ticket.id)
        if not location.isascii():
            location = iri_to_uri(location)
        shown = escape(location)
        body = (
            "<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n"
            "<h1>Redirecting...</h1>\n<p>You should be redirected automatically to the "
            f'target URL: <a href="{shown}">{shown}</a>. If not, click the link.\n'
        )
        headers = [("Content-Type", "text/html; charset=utf-8"), ("Location", location)]
        return "cas.login", 302, headers, body.encode()

    def _send(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        endpoint: str,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        request_id: str,
        started: float,
    ) -> Iterable[bytes]:
        # HSTS as on the Flask path (web/security.py): an https public URL
        # means HTTPS even when a proxy in front ends TLS.
        hsts = self.extensions["cas"].settings.hsts(environ.get("wsgi.url_scheme") == "https")
        headers += header_list(secure=hsts, path=environ.get("PATH_INFO", ""))
        headers.append(("Content-Length", str(len(body))))
        headers.append((REQUEST_ID_HEADER, request_id))
        headers.append(("Vary", "Cookie"))  # as Flask's session handling says
        start_response(STATUS[status], headers)
        metrics.labelled(metrics.HTTP_SECONDS, endpoint, "GET").observe(
            time.perf_counter() - started
        )
        metrics.labelled(metrics.HTTP_RESPONSES, endpoint, str(status)).inc()
        return [body]


_ERROR = b"Something went wrong on our side. Please try again later.\n"


def _query(environ: Mapping[str, Any]) -> dict[str, str] | None:
    """The query parameters as werkzeug decodes them; the first of repeated ones."""
    raw = environ.get("QUERY_STRING", "")
    try:
        pairs = parse_qsl(
            raw.encode("latin-1").decode(), keep_blank_values=True, errors="werkzeug.url_quote"
        )
    except (UnicodeError, ValueError, LookupError):
        return None  # Flask answers whatever it answers to that
    args: dict[str, str] = {}
    for name, value in pairs:
        args.setdefault(name, value)
    return args
