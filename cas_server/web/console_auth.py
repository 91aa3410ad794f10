"""The server's own pages (profile, administration console) sign in through CAS too.

They are a built-in registered service: ``require_account`` sends the
browser to ``/login?service=<public_url>/_cas/callback?next=…``, the
callback validates the service ticket in-process (no HTTP round trip) and
opens a Flask-Login session.

That session is bound to the SSO session that opened it, and never
outlives it: the callback records (a digest of) the browser's TGC, and
every request must bring that same TGC, still alive in the ticket registry
and for the same person. A logout, "End all SSO sessions", a lock or a
reset ends the console session with the SSO one, and a copy of the console
cookie alone opens nothing. It also follows the public-computer idle
timeout, and lasts at most ``login.console_max_age`` after the password was
typed, however busy (then the password is asked again). The account's
status and roles are read from the database on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import quote, urlencode, urlsplit

from flask import Blueprint, Flask, abort, redirect, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.wrappers import Response

from ..accounts.model import Account, Status
from ..protocol.cas.errors import CasError
from ..protocol.cas.services import RegisteredService
from ..protocol.cas.tickets import TicketGrantingTicket
from ..protocol.cas.validation import ValidationRequest
from ..runtime.container import container
from ..settings.server import Settings

bp = Blueprint("console_auth", __name__, url_prefix="/_cas")
login_manager = LoginManager()
SERVICE_ID = "cas-internal"
SEEN_KEY = "console_seen"  # last request (the idle timeout)
SSO_KEY = "console_sso"  # SHA-256 of the TGC this session was opened with
SIGNED_IN_KEY = "console_signed_in"  # when that SSO session's password was typed
CONSOLE_KEYS = (SEEN_KEY, SSO_KEY, SIGNED_IN_KEY)
MAX_NEXT = 2048
F = TypeVar("F", bound=Callable[..., Any])


def internal_service(settings: Settings) -> RegisteredService:
    callback = re.escape(settings.public_url + "/_cas/callback")
    return RegisteredService(
        id=SERVICE_ID,
        name=settings.institution_name,
        url_pattern=re.compile(callback + r"(\?.*)?"),
        evaluation_order=-1_000_000,  # before any configured pattern
        release_attributes=(("uid", "uid"),),
        # Its session is bound to the TGC and ends with it: no single logout
        # POST from this server to its own callback URL.
        logout_type="none",
        description="Built in: profile and administration pages",
        # An operator acting as someone (#15) sees the services, never the
        # person's password, recovery channels or second factors.
        surrogate=False,
    )


class ConsoleUser(UserMixin):  # type: ignore[misc]
    def __init__(self, account: Account) -> None:
        self.account = account
        self.id = account.uuid

    @property
    def roles(self) -> frozenset[str]:
        return self.account.roles


# C0 controls and DEL: a browser drops tabs and newlines anywhere in a URL and
# the others at its ends, so "/<TAB>/evil.example" is "//evil.example" to it.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _safe_next(value: str | None) -> str:
    """Only a path on this server, as a browser will read it: never an open redirect.

    Refused (the answer is then "/"): any control character, a backslash (a
    browser reads it as "/"), anything not starting with exactly one "/",
    and anything in which ``urlsplit`` sees a scheme or a host. A
    percent-encoded character stays what it is: part of the path.
    """
    if not value or len(value) > MAX_NEXT or _CONTROL.search(value) or "\\" in value:
        return "/"
    if not value.startswith("/") or value.startswith("//"):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def _callback_service(next_path: str) -> str:
    return f"{container().settings.public_url}/_cas/callback?{urlencode({'next': next_path})}"


def sign_in_url(next_path: str, *, renew: bool = False) -> str:
    url = url_for("cas.login") + "?service=" + quote(_callback_service(next_path), safe="")
    return url + "&renew=true" if renew else url


def _digest(tgc: str) -> str:
    return hashlib.sha256(tgc.encode("utf-8")).hexdigest()


def _expired() -> bool:
    seen = session.get(SEEN_KEY)
    idle = container().settings.login.public_idle_timeout
    return not isinstance(seen, (int, float)) or time.time() - seen > idle


def _too_old(signed_in: object) -> bool:
    """Past the overall cap: ``signed_in`` is when the SSO session's password was typed."""
    c = container()
    cap = c.settings.login.console_max_age
    return not isinstance(signed_in, (int, float)) or c.clock.now() - signed_in > cap


def _sso_session(login: str) -> TicketGrantingTicket | None:
    """The browser's SSO session, if it is the one this console session was opened
    with, still alive, and ``login``'s."""
    c = container()
    tgc = request.cookies.get(c.settings.tgc_name)
    bound = session.get(SSO_KEY)
    if not tgc or not isinstance(bound, str) or not hmac.compare_digest(_digest(tgc), bound):
        return None
    tgt = c.login.current_session(tgc)
    if tgt is None or tgt.authentication.principal.id != login:
        return None
    return tgt


def follow_sso_session(tgt: TicketGrantingTicket) -> None:
    """This browser was given ``tgt``, a new SSO session of the same person (the
    profile's password change ends every session of the account and replaces
    this browser's): the console session goes on, bound to the new one."""
    same_person = (
        current_user.is_authenticated
        and tgt.authentication.principal.id == current_user.account.login
    )
    if SSO_KEY in session and same_person:
        session[SSO_KEY] = _digest(tgt.id)


def _forget() -> None:
    logout_user()
    for key in CONSOLE_KEYS:
        session.pop(key, None)


def _sign_in_again(renew: bool = False) -> Response:
    _forget()
    return redirect(sign_in_url(request.full_path.rstrip("?"), renew=renew), code=302)


def require_account(roles: Iterable[str] | None = None) -> Callable[[F], F]:
    """Protect a view: signed in through CAS, in the same SSO session, still active,
    and holding one of ``roles`` (status and roles as the database has them now)."""
    wanted = frozenset(roles or ())

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            # current_user is loaded from the database for this request (load below):
            # a locked or deleted account is not authenticated, its roles are current.
            if not current_user.is_authenticated or _expired():
                return _sign_in_again()
            if _too_old(session.get(SIGNED_IN_KEY)):
                return _sign_in_again(renew=True)
            if _sso_session(current_user.account.login) is None:
                return _sign_in_again()
            if wanted and not (wanted & current_user.roles):
                abort(403)
            session[SEEN_KEY] = time.time()
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


@bp.get("/callback")
def callback() -> Response:
    # The ticket was issued for the service URL as it was asked for; where the
    # browser goes afterwards is only ever a path on this server.
    asked = request.args.get("next", "/")
    next_path = _safe_next(asked)
    c = container()
    try:
        assertion = c.validator.validate(
            ValidationRequest(service=_callback_service(asked), ticket=request.args.get("ticket"))
        )
    except CasError:
        abort(400)
    account = c.accounts.find_by_login(assertion.user)
    if account is None or account.status is not Status.ACTIVE:
        abort(403)
    # The SSO session of this browser, and the ticket's person: a ticket taken
    # to another browser (or after a logout) opens nothing.
    tgc = request.cookies.get(c.settings.tgc_name) or ""
    tgt = c.login.current_session(tgc)
    if tgt is None or tgt.authentication.principal.id != assertion.user:
        abort(403)
    if _too_old(tgt.authentication.authenticated_at):
        _forget()
        return redirect(sign_in_url(next_path, renew=True), code=302)
    login_user(ConsoleUser(account))
    session[SSO_KEY] = _digest(tgc)
    session[SIGNED_IN_KEY] = tgt.authentication.authenticated_at
    session[SEEN_KEY] = time.time()
    return redirect(next_path, code=302)


@bp.get("/logout")
def logout() -> Response:
    _forget()
    return redirect(url_for("cas.logout"), code=302)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    # Flask-Login's own protection compares the address and browser of each
    # request; require_account does better: the session is bound to this
    # browser's live SSO session (its TGC), whatever the network.
    login_manager.session_protection = None

    def load(uuid: str) -> ConsoleUser | None:
        account = container().accounts.get(uuid)
        if account is None or account.status is not Status.ACTIVE:
            return None
        return ConsoleUser(account)

    login_manager.user_loader(load)

    app.register_blueprint(bp)
