"""/profile/sessions ("Mes connexions", #15): the person's live SSO sessions, and
ending one of them or every other one. The history of sign-ins: :mod:`.history`.

Each session is shown as its owner may read it: the device in words
(:func:`...accounts.devices.describe`), the address and its network label (the
``[sessions] networks`` table, in the reader's language), public or private
computer, remember-me, started, last used, and the services that received a
ticket in it. A session is named on the page and in the forms by its *handle*
(the digest of its ticket-granting ticket), never by the cookie itself.

Ending a session checks the target in the store (``destroy_session(handle,
principal_id=login)``): another person's handle, an ended or a made-up one
answers 404 and ends nothing. The services of an ended session are told as
``/logout`` tells them (back channel in the background, front channel by hidden
frames on the page this browser gets). Ending the session of this very browser
is a logout. Every action is CSRF-protected and audited (``session_end_self``,
``sessions_end_others``).
"""

from __future__ import annotations

import re
from typing import Any

from flask import abort, current_app, request
from flask_babel import gettext as _

from ...accounts.devices import describe, phrase
from ...accounts.model import Account
from ...admin.sessions import tell_by_soap
from ...protocol.cas.ports import SessionRecord
from ...protocol.cas.slo import FrontChannelRequest, front_channel_requests, plan_logout
from ...protocol.cas.tickets import SessionClient, ticket_digest
from ...runtime.container import container
from ...runtime.sesame import language, now
from ..cas import login as cas_login
from ..cas.login_flow import allow_front_channel
from ..saml import participants as saml_participants
from ..sesame.forms import Form
from ..sesame.runtime import client_ip
from .blueprint import bp
from .runtime import DONE, account, done, page, signed_in, when

HANDLE = re.compile(r"[0-9a-f]{64}")


def current_handle() -> str | None:
    """The handle of this browser's own SSO session."""
    tgc = request.cookies.get(container().settings.tgc_name)
    return ticket_digest(tgc) if tgc and tgc.isascii() else None


def service_name(service_id: str, service: str) -> str:
    """The registry's name for a service, else the address the ticket was for."""
    registered = container().services.get(service_id)
    return registered.name if registered is not None else service


def device_words(user_agent: str | None) -> str:
    message, values = phrase(describe(user_agent))
    return str(_(message, **values))


def network_words(client: SessionClient) -> str | None:
    if not client.network:
        return None
    return container().sessions_settings.network_label(client.network, language())


def row(record: SessionRecord, current: str | None) -> dict[str, Any]:
    client = record.client or SessionClient()
    device = describe(client.user_agent)
    names: list[str] = []
    for s in record.services:
        name = service_name(s.service_id, s.service)
        if name not in names:
            names.append(name)
    return {
        "handle": record.handle,
        "current": record.handle == current,
        "device": device_words(client.user_agent),
        "mobile": device.mobile,
        "ip": client.ip,
        "network": network_words(client),
        "public": client.public,
        "remember": record.long_term,
        "started": when(record.created_at),
        "last_used": when(record.last_used_at),
        "expires": when(record.expires_at),
        "services": names,
        "surrogate": record.surrogate,
    }


def _sessions(who: Account) -> list[SessionRecord]:
    return container().sessions.sessions_of(who.login, now())


def _page(who: Account, form: Form | None = None, **context: Any) -> Any:
    current = current_handle()
    rows = [row(r, current) for r in _sessions(who)]
    rows.sort(key=lambda r: not r["current"])  # this browser's first, then newest first
    return page(
        "sessions",
        form,
        sessions=rows,
        others=sum(1 for r in rows if not r["current"]),
        history_days=container().sessions_settings.history_days,
        history="profile.sessions_history" in current_app.view_functions,
        **context,
    )


@bp.get("/sessions", endpoint="sessions")
@signed_in
def sessions() -> Any:
    return _page(account())


# Ending sessions ---------------------------------------------------------------------


def _end(handle: str, who: Account) -> list[FrontChannelRequest] | None:
    """End ``who``'s session ``handle`` and tell its services, as ``/logout`` does
    (``login_flow.end_browser_session``); None if it is not a live session of ``who``."""
    c = container()
    targets = c.sessions.destroy_session(handle, principal_id=who.login)
    if targets is None:
        return None
    at = c.clock.now()
    plan = plan_logout(targets, c.services)
    c.single_logout.notify(plan.back_channel, who.login, at)
    requests = front_channel_requests(plan.front_channel, c.services, name_id=who.login, now=at)
    # Its SAML SPs: forgotten, told by frames on this page when they have a
    # front-channel SingleLogoutService, and by SOAP (back channel) when they have one.
    frames, participants = saml_participants.end_handle(handle)
    tell_by_soap(participants)
    return requests + frames


def _audit(action: str, outcome: str, who: Account, **details: Any) -> None:
    container().audit.record(
        action,
        outcome,
        account_uuid=who.uuid,
        login=who.login,
        actor=who.login,
        ip=client_ip(),
        details=details,
    )


def _told(front_channel: list[FrontChannelRequest], what: str) -> Any:
    """Back to the list; through a page that frames the front-channel services if any."""
    if not front_channel:
        return done("profile.sessions", what)
    allow_front_channel(front_channel)
    return _page(account(), front_channel=front_channel, done=_(DONE[what]))


@bp.post("/sessions/end", endpoint="sessions_end")
@signed_in
def end() -> Any:
    who = account()
    handle = Form().raw("handle")
    if not HANDLE.fullmatch(handle):
        _audit("session_end_self", "refused", who, reason="malformed")
        abort(400)
    if handle == current_handle():
        # This browser's own session: a logout, exactly as /logout.
        _audit("session_end_self", "success", who, handle=handle[:12], current=True)
        return cas_login.logout()
    front_channel = _end(handle, who)
    if front_channel is None:  # another person's, ended meanwhile, or made up: nothing ended
        _audit("session_end_self", "refused", who, handle=handle[:12], reason="not_found")
        abort(404)
    _audit("session_end_self", "success", who, handle=handle[:12], current=False)
    return _told(front_channel, "session_ended")


@bp.post("/sessions/end-others", endpoint="sessions_end_others")
@signed_in
def end_others() -> Any:
    who = account()
    current = current_handle()
    front_channel: list[FrontChannelRequest] = []
    count = 0
    for record in _sessions(who):
        if record.handle == current:
            continue
        ended = _end(record.handle, who)
        if ended is not None:
            count += 1
            front_channel.extend(ended)
    _audit("sessions_end_others", "success", who, count=count)
    return _told(front_channel, "sessions_ended")
