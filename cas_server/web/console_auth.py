"""The server's own pages (profile, administration console) sign in through CAS too.

They are a built-in registered service: ``require_account`` sends the
browser to ``/login?service=<public_url>/_cas/callback?next=…``, the
callback validates the service ticket in-process (no HTTP round trip) and
opens a Flask-Login session. That session follows the public-computer idle
timeout, and ends with the SSO session's logout.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import quote, urlencode

from flask import Blueprint, Flask, abort, redirect, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.wrappers import Response

from ..accounts.model import Account, Status
from ..config import Settings
from ..container import container
from ..protocol.errors import CasError
from ..protocol.services import RegisteredService
from ..protocol.validation import ValidationRequest

bp = Blueprint("console_auth", __name__, url_prefix="/_cas")
login_manager = LoginManager()
SERVICE_ID = "cas-internal"
SEEN_KEY = "console_seen"
F = TypeVar("F", bound=Callable[..., Any])


def internal_service(settings: Settings) -> RegisteredService:
    callback = re.escape(settings.public_url + "/_cas/callback")
    return RegisteredService(
        id=SERVICE_ID,
        name=settings.institution_name,
        url_pattern=re.compile(callback + r"(\?.*)?"),
        evaluation_order=-1_000_000,  # before any configured pattern
        release_attributes=(("uid", "uid"),),
        description="Built in: profile and administration pages",
    )


class ConsoleUser(UserMixin):  # type: ignore[misc]
    def __init__(self, account: Account) -> None:
        self.account = account
        self.id = account.uuid

    @property
    def roles(self) -> frozenset[str]:
        return self.account.roles


def _safe_next(value: str | None) -> str:
    """Only a path on this server: never an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _callback_service(next_path: str) -> str:
    return f"{container().settings.public_url}/_cas/callback?{urlencode({'next': next_path})}"


def sign_in_url(next_path: str) -> str:
    return url_for("cas.login") + "?service=" + quote(_callback_service(next_path), safe="")


def _expired() -> bool:
    seen = session.get(SEEN_KEY)
    idle = container().settings.login.public_idle_timeout
    return not isinstance(seen, (int, float)) or time.time() - seen > idle


def require_account(roles: Iterable[str] | None = None) -> Callable[[F], F]:
    """Protect a view: signed in through CAS, still active, and holding one of ``roles``."""
    wanted = frozenset(roles or ())

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated or _expired():
                logout_user()
                return redirect(sign_in_url(request.full_path.rstrip("?")), code=302)
            if wanted and not (wanted & current_user.roles):
                abort(403)
            session[SEEN_KEY] = time.time()
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


@bp.get("/callback")
def callback() -> Response:
    next_path = _safe_next(request.args.get("next"))
    c = container()
    try:
        assertion = c.validator.validate(
            ValidationRequest(
                service=_callback_service(next_path), ticket=request.args.get("ticket")
            )
        )
    except CasError:
        abort(400)
    account = c.accounts.find_by_login(assertion.user)
    if account is None or account.status is not Status.ACTIVE:
        abort(403)
    login_user(ConsoleUser(account))
    session[SEEN_KEY] = time.time()
    return redirect(next_path, code=302)


@bp.get("/logout")
def logout() -> Response:
    logout_user()
    session.pop(SEEN_KEY, None)
    return redirect(url_for("cas.logout"), code=302)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.session_protection = None  # the CAS session and the idle check protect it

    def load(uuid: str) -> ConsoleUser | None:
        account = container().accounts.get(uuid)
        if account is None or account.status is not Status.ACTIVE:
            return None
        return ConsoleUser(account)

    login_manager.user_loader(load)

    app.register_blueprint(bp)
