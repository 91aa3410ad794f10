"""What every self-service view shares: settings, stores, senders, limits, audit, links."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app, request, session, url_for
from flask_babel import get_locale

from ...accounts.model import Account
from ...accounts.throttle import Limit, Throttle
from ...container import container
from ...mail import ConsoleLog, Outbox, render_message
from ...sesame_settings import SesameSettings
from ...sms import SmsSender
from ...storage.sql.sesame import SqlSesameStore
from ...storage.sql.tokens import SqlTokenStore

SESSION_KEY = "sesame"


@dataclass
class Sesame:
    settings: SesameSettings
    store: SqlSesameStore
    tokens: SqlTokenStore
    outbox: Outbox
    sms: SmsSender
    console: ConsoleLog
    joker_throttle: Throttle  # wrong joker answers / facts / numbers, per person (T12)
    joker_ip_throttle: Throttle  # the same, per address
    dummy_hash: str  # checked against when there is no joker, so it costs the same

    def close(self) -> None:
        self.outbox.close()
        self.sms.close()


def sesame() -> Sesame:
    return current_app.extensions["sesame"]  # type: ignore[no-any-return]


def make_throttles(settings: SesameSettings) -> tuple[Throttle, Throttle]:
    counters = container().counters
    limits = settings.limits
    limit = Limit(limits.joker_attempts, limits.joker_window, limits.joker_window)
    ip_limit = Limit(limits.joker_attempts * 4, limits.joker_window, limits.joker_window)
    return Throttle(counters, limit, "joker"), Throttle(counters, ip_limit, "joker-ip")


# Request data -----------------------------------------------------------------


def client_ip() -> str:
    return request.remote_addr or "unknown"


def now() -> float:
    return container().clock.now()


def utcnow() -> datetime:
    return datetime.fromtimestamp(now(), UTC)


def language() -> str:
    return str(get_locale() or container().settings.default_language)


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


def public_link(endpoint: str, **values: Any) -> str:
    """An absolute link for a mail, from ``server.public_url``, never the Host header (T3)."""
    path = url_for(endpoint, **values)
    root = request.script_root
    if root and path.startswith(root):
        path = path[len(root) :]
    return container().settings.public_url + path


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


def may_send(account: Account, destination: str, action: str) -> bool:
    """Per-account and per-destination limits on mails and SMS; silently refused beyond."""
    limits = sesame().settings.limits
    allowed = _hit(f"sesame-acct:{account.uuid}", limits.per_account) and _hit(
        f"sesame-dest:{_destination_key(destination)}", limits.per_destination
    )
    if not allowed:
        audit(action, "rate_limited", account)
    return allowed


def sms_budget_allows() -> bool:
    """The server-wide daily SMS budget (T8): the cost of a flood is capped."""
    budget = sesame().settings.sms.daily_budget
    day = time.strftime("%Y-%m-%d", time.gmtime(now()))
    return container().counters.hit(f"sms-budget:{day}", now(), 86400) <= budget


# Sending ------------------------------------------------------------------------


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
    targets = c.login.end_sessions_of(account.login)
    c.single_logout.notify(targets, account.login, c.clock.now())
    return len(targets)
