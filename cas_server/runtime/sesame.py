"""The Sésame module's objects, shared by its pages, the profile, the console and the CLI.

Built once by ``cas_server.web.sesame.init_app``: settings, stores, the mail
outbox and the SMS sender, the joker limits; and what every caller needs
with them: the clock, the language, absolute links for mails (T3) and the
daily SMS budget (T8).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app, request, url_for
from flask_babel import get_locale

from ..accounts.throttle import Limit, Throttle
from ..outbound.mail import ConsoleLog, Outbox
from ..outbound.sms import SmsSender
from ..settings.sesame import SesameSettings
from ..storage.sql.sesame import SqlSesameStore
from ..storage.sql.tokens import SqlTokenStore
from .container import container


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


def now() -> float:
    return container().clock.now()


def utcnow() -> datetime:
    return datetime.fromtimestamp(now(), UTC)


def language() -> str:
    return str(get_locale() or container().settings.default_language)


def public_link(endpoint: str, **values: Any) -> str:
    """An absolute link for a mail, from ``server.public_url``, never the Host header (T3)."""
    path = url_for(endpoint, **values)
    root = request.script_root
    if root and path.startswith(root):
        path = path[len(root) :]
    return container().settings.public_url + path


def sms_budget_allows(spend: bool = True) -> bool:
    """The server-wide daily SMS budget (T8): the cost of a flood is capped.

    ``spend`` False: the same counter work on a stand-in key, for a request
    that sends nothing but must cost what one that sends does (T2).
    """
    budget = sesame().settings.sms.daily_budget
    day = time.strftime("%Y-%m-%d", time.gmtime(now()))
    key = f"sms-budget:{day}" if spend else f"sms-budget-stand-in:{day}"
    return container().counters.hit(key, now(), 86400) <= budget
