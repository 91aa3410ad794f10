"""What every self-service view shares: settings, stores, senders, limits, audit, links."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from flask import Flask, current_app, g, request, session
from flask_babel import force_locale

from ...accounts.model import Account
from ...admin.sessions import end_account_sessions
from ...runtime.container import container
from ...runtime.mail import render_message
from ...runtime.sesame import language, now, public_link, sesame, sms_budget_allows, utcnow
from ...runtime.themes import current_chain

log = logging.getLogger(__name__)
SESSION_KEY = "sesame"
LATER_KEY = "sesame_later"  # in g: the background work of this request, not started yet


# Request data -----------------------------------------------------------------


def client_ip() -> str:
    return request.remote_addr or "unknown"


def remember(key: str, value: str) -> None:
    """Keep a step's secret in the (signed) session, beside the others."""
    state = dict(session.get(SESSION_KEY) or {})
    state[key] = value
    session[SESSION_KEY] = state


def recall(key: str) -> str | None:
    value = (session.get(SESSION_KEY) or {}).get(key)
    return value if isinstance(value, str) else None


def forget(*keys: str) -> None:
    state = dict(session.get(SESSION_KEY) or {})
    for key in keys:
        state.pop(key, None)
    session[SESSION_KEY] = state


# Limits (T8) ------------------------------------------------------------------


def _hit(key: str, limit: int) -> bool:
    """Count one event; True while within the limit."""
    window = sesame().settings.limits.window
    return container().counters.hit(key[:255], now(), window) <= limit


def ip_allowed() -> bool:
    """Requests from one address per window; beyond, the page says "too many requests"."""
    return _hit(f"sesame-ip:{client_ip()}", sesame().settings.limits.per_ip)


def _destination_key(destination: str) -> str:
    return hashlib.sha256(destination.strip().casefold().encode()).hexdigest()


def stand_in(typed: str) -> str:
    """Whom the limits count when what was typed names nobody who gets anything.

    A keyed hash of what was typed, as long as an account's uuid (and
    without its dashes, so never one): the stand-in takes the same counters
    as an account would, so an unknown identifier costs the same work in
    the page as a known one (T2), is limited alike, and the counters table
    does not keep what strangers typed.
    """
    key = str(current_app.config["SECRET_KEY"]).encode()
    seed = b"sesame-stand-in|" + typed.strip().casefold().encode()
    return hmac.new(key, seed, hashlib.sha256).hexdigest()[:36]


def _reserve(account: Account | None, destination: str | None, action: str, typed: str) -> bool:
    """Take the per-account and per-destination counters, for real or for a stand-in."""
    limits = sesame().settings.limits
    real = account is not None and bool(destination)
    subject = account.uuid if real and account is not None else stand_in(typed)
    target = destination if real and destination else subject
    # One budget per purpose (the action: forgotten identifier, each reset
    # channel, activation, each profile verification): a password recovery
    # must not spend the forgotten-identifier mail (issue #12, item 2).
    allowed = _hit(f"sesame-acct:{action}:{subject}", limits.per_account) and _hit(
        f"sesame-dest:{action}:{_destination_key(target)}", limits.per_destination
    )
    if not allowed:
        audit(action, "rate_limited", account if real else None)
    return allowed


def limit_lifts_at(account: Account, destination: str, action: str) -> float:
    """When ``action``'s budget for this account and destination is whole again
    (shown on the signed-in profile, where nothing is hidden from the owner)."""
    window = sesame().settings.limits.window
    store = container().counters
    keys = (
        f"sesame-acct:{action}:{account.uuid}",
        f"sesame-dest:{action}:{_destination_key(destination)}",
    )
    starts = [t for key in keys if (t := store.window_started(key[:255])) is not None]
    return max(starts, default=now()) + window


def may_send(
    account: Account | None, destination: str | None, action: str, *, typed: str = ""
) -> bool:
    """Per-account and per-destination limits on mails and SMS (T8); silently refused beyond.

    Taken in the request, before the work they guard is queued (:func:`later`),
    so that a burst cannot run ahead of them. With no account or no
    destination (nobody matches ``typed``, or the account gets nothing), the
    same counters are taken for a stand-in and the answer is False: the
    page does the same work either way (T2).
    """
    allowed = _reserve(account, destination, action, typed)
    return allowed and account is not None and bool(destination)


def may_text(account: Account | None, action: str, *, typed: str) -> bool:
    """The limits of one SMS to the mobile on file (T8, T9), taken in the request.

    As :func:`may_send`, plus the day's SMS budget; for nobody, the budget's
    counter is a stand-in one, so a stranger's request spends none of it.
    """
    mobile = account.mobile if account is not None and sesame().sms.enabled else None
    real = account if mobile else None
    if not _reserve(real, mobile, action, typed):
        return False
    if not sms_budget_allows(spend=real is not None):
        if real is not None:
            # Told later: an audit write here would be one that strangers do not cost.
            later(partial(audit, action, "sms_budget_exhausted", real), "audit")
        return False
    return real is not None


def read_alike(found: object, typed: str) -> None:
    """After a lookup that found nobody, one read of a stand-in account (none
    exists): the database round trip that loading a found account costs
    more (T2). Without it the lookup alone would tell, by a fraction of a
    millisecond that enough samples measure."""
    if not found:
        container().accounts.get(stand_in(typed))


def even_out(typed: str, ttl: float) -> None:
    """One counter write for a stand-in of what was typed: done by a page in
    place of a write that only a real account gets (the joker question's
    token), so that both answers cost the same (T2). The row goes with the
    counters' purge once ``ttl`` has passed."""
    container().counters.hit(f"sesame-even:{stand_in(typed)}", now(), ttl)


# Sending ------------------------------------------------------------------------


def later(work: Callable[[], object], what: str) -> None:
    """Run ``work`` once this page has answered, on the outbox's threads (T2).

    The anonymous start pages call it alike whether or not what was typed
    names an account (the work then has nothing to do): issuing a token,
    rendering and sending a mail or SMS, and their audit events, add
    nothing to the answer's time, which says nothing of the account. The
    limits guarding the work are taken before, in the request
    (:func:`may_send`).

    The work runs in a request context of its own, made from a snapshot of
    this one (the client's address, the language, the theme chain) on the
    public URL: never this request's objects, so nothing of one request
    (its session, ``g``) reaches another, and links in the work's mail come
    from the configuration (T3). A failure is logged (``Outbox.later``).
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    run = partial(_run_later, app, client_ip(), language(), current_chain(), work)
    if request.blueprint != "sesame":
        # No teardown hook outside Sésame's pages (or inside background work): at once.
        sesame().outbox.later(run, what)
        return
    queued: list[tuple[Callable[[], object], str]] = g.setdefault(LATER_KEY, [])
    queued.append((run, what))


def start_later(error: BaseException | None = None) -> None:
    """Hand this request's background work to the outbox once the page is made.

    The teardown of every Sésame page (on the blueprint). Started earlier, the
    work would share the interpreter with the rest of the page and slow
    down the answer for a known person only (T2). A page that failed drops
    its work (logged): its person saw an error, not "sent".
    """
    queued: list[tuple[Callable[[], object], str]] = g.pop(LATER_KEY, None) or []
    if not queued:
        return
    if error is not None:
        log.warning("page failed (%s): background work dropped", type(error).__name__)
        return
    outbox = sesame().outbox
    for run, what in queued:
        outbox.later(run, what)


def _run_later(
    app: Flask, ip: str, lang: str, chain: tuple[str, ...], work: Callable[[], object]
) -> None:
    c = app.extensions["cas"]
    environ = {"REMOTE_ADDR": ip}
    with app.test_request_context("/", base_url=c.settings.public_url, environ_base=environ):
        g.themes = c.themes
        g.theme_chain = chain
        with force_locale(lang):
            work()


def send_mail(template: str, to: str, **context: Any) -> None:
    """Render now (in the user's language), send in the background (T2)."""
    c = container()
    message = render_message(
        template,
        to,
        language(),
        institution_name=c.settings.institution_name,
        login_url=public_link("cas.login"),
        **context,
    )
    sesame().outbox.send(message)


def mail_change(
    template: str, account: Account, what: str, to: str | None = None, **context: Any
) -> None:
    """The confirmation mail after a change (T11): what changed, when, from where;
    never a secret. To ``to``, else the personal address on file; none without one."""
    address = to or account.personal_email
    if not address:
        return
    send_mail(
        template,
        address,
        what=what,
        login=account.login,
        display_name=account.display_name,
        when=utcnow(),
        ip=client_ip(),
        **context,
    )


def send_sms(account: Account, text: str, action: str) -> bool:
    """To the mobile on file only, never a number from a form (T9)."""
    if not account.mobile or not sesame().sms.enabled:
        return False
    if not sms_budget_allows():
        audit(action, "sms_budget_exhausted", account)
        return False
    sesame().sms.send(account.mobile, text)
    return True


# Audit (T25) ----------------------------------------------------------------------


def audit(action: str, outcome: str, account: Account | None = None, **details: Any) -> None:
    container().audit.record(
        f"sesame_{action}",
        outcome,
        account_uuid=account.uuid if account else None,
        login=account.login if account else None,
        ip=client_ip(),
        details=details,
    )


def end_sessions(account: Account) -> int:
    """Every SSO session of the account ends; its services are told (T6)."""
    c = container()
    return len(end_account_sessions(account.login, c.clock.now()))
