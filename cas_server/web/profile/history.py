"""/profile/sessions/history ("Mes connexions": the history, #15): the last
``[sessions] history_days`` days of the person's sign-ins (successful or not),
password and recovery events, second-factor events, session ends and
impersonations, from the audit trail (``storage/sql/audit_queries.history_for``,
indexed), newest first, a page at a time (``?page=``), in the reader's language
and the institution's zone. Only the signed-in person's own events: the query
takes the account's uuid and login from the session, never from the request.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import abort, request

from ...runtime.container import container
from ...runtime.sesame import utcnow
from ...storage.sql.audit_queries import HistoryEvent, history_for
from ..admin.audit_labels import audit_action_label, audit_outcome_label
from .blueprint import bp
from .runtime import account, page, signed_in, when
from .sessions import device_words

PER_PAGE = 25
MAX_PAGE = 10_000
SUCCESS = frozenset({"success", "sent", "verified", "added", "used"})


def _page_number() -> int:
    raw = request.args.get("page", "1")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 5:
        abort(400)
    number = int(raw)
    if not 1 <= number <= MAX_PAGE:
        abort(400)
    return number


def _row(event: HistoryEvent) -> dict[str, Any]:
    details = event.details if isinstance(event.details, dict) else {}
    agent = details.get("user_agent")
    return {
        "at": when(event.at),
        "what": audit_action_label(event.action),
        "outcome": audit_outcome_label(event.outcome),
        "ok": event.outcome in SUCCESS,
        "ip": event.ip,
        "device": device_words(agent) if isinstance(agent, str) else None,
    }


@bp.get("/sessions/history", endpoint="sessions_history")
@signed_in
def history() -> Any:
    who = account()
    number = _page_number()
    days = container().sessions_settings.history_days
    events, more = history_for(
        container().engine,
        who.uuid,
        who.login,
        utcnow() - timedelta(days=days),
        number,
        PER_PAGE,
    )
    return page(
        "history",
        events=[_row(e) for e in events],
        number=number,
        more=more,
        days=days,
    )
