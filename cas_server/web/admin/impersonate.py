"""/admin/impersonate: sign in as someone (#15), and the banner of every page while it lasts.

``[sessions] impersonation`` off: 404 (the page does not exist). On: an
operator with the ``impersonate`` right types the login and the reason,
confirms (CSRF as every form); their own SSO session ends first, as a
logout (so the console closes too), and the browser gets the target's
surrogate session (:mod:`cas_server.admin.impersonation`). Every page then
says who acts as whom, with the way out (``/logout``, which ends it).
"""

from __future__ import annotations

from typing import Any

from flask import abort, g, has_request_context, make_response, redirect, request, session, url_for
from flask_login import current_user, logout_user
from werkzeug.wrappers import Response

from ...accounts.console import clean_query
from ...accounts.i18n import N_
from ...admin.acting import Actor, Refused
from ...admin.impersonation import MAX_REASON, Impersonation, NotEnabled
from ...protocol.cas.tickets import USER_AGENT_MAX, SessionClient
from ...runtime.container import container
from ..cas.login_flow import end_browser_session
from ..cas.login_support import client_ip, set_tgc
from .blueprint import bp
from .support import Form, console, me, page


def _enabled() -> None:
    if not container().sessions_settings.impersonation:
        abort(404)


def _form(form: Form | None = None) -> Any:
    c = container()
    return page(
        "impersonate",
        form=form,
        minutes=c.sessions_settings.impersonation_minutes,
        max_reason=MAX_REASON,
        login=clean_query(str(request.args.get("login", "")))[:128],
    )


@bp.get("/impersonate")
def impersonate_form() -> Any:
    _enabled()
    return _guarded_form()


@console("impersonate")
def _guarded_form() -> Any:
    return _form()


@bp.post("/impersonate")
def impersonate() -> Any:
    _enabled()
    return _guarded_start()


@console("impersonate")
def _guarded_start() -> Any:
    form = Form()
    login = form.text("login", 128)
    reason = form.text("reason", MAX_REASON)
    if not login:
        form.error("login", N_("Type the login or alias of the account."))
    if not reason:
        form.error("reason", N_("Give the reason for signing in as this person."))
    if not form.confirmed() or not form.ok:
        return _form(form)
    c = container()
    ip = client_ip()
    network = c.sessions_settings.network_for(ip)
    client = SessionClient(
        ip=ip,
        user_agent=request.user_agent.string[:USER_AGENT_MAX] or None,
        network=network.key if network else None,
        public=None,
    )
    operator = Impersonation(Actor(me().login, ip, frozenset(current_user.roles)))
    try:
        tgt = operator.start(login, reason, client)
    except NotEnabled:
        abort(404)
    except Refused as exc:
        form.refused("login", exc)
        return _form(form)
    # The operator's own session ends first, as a logout: the console closes with it.
    old = request.cookies.get(c.settings.tgc_name)
    if old:
        end_browser_session(old)
    logout_user()
    session.clear()
    response: Response = make_response(redirect(url_for("cas.login"), code=303))
    set_tgc(response, tgt)
    return response


# The banner on every page -----------------------------------------------------------------


@bp.app_context_processor
def _impersonation_banner() -> dict[str, Any]:
    """``impersonation``: (operator, target) while this browser's session is a surrogate one."""
    if not has_request_context():
        return {}
    if "impersonation" not in g:
        g.impersonation = None
        c = container()
        tgc = request.cookies.get(c.settings.tgc_name)
        if tgc:
            try:
                tgt = c.login.current_session(tgc)
            except Exception:  # a page about a store outage still renders
                tgt = None
            if tgt is not None and tgt.authentication.surrogate:
                g.impersonation = (tgt.authentication.surrogate, tgt.authentication.principal.id)
    return {"impersonation": g.impersonation}
