"""The record of one account: who, which numbers, which state, what happened lately."""

from __future__ import annotations

from typing import Any

from flask import abort

from ...accounts.charter import charter_for
from ...accounts.console import AuditFilter, may_act_on, rank
from ...admin import admin, factors
from ...admin.acting import Actor
from ...admin.actions import Actions
from ...runtime.container import container
from ..labels import attribute_rows
from .blueprint import bp
from .help_requests import about_account
from .support import account_or_404, actions, console, me, page

RECENT_EVENTS = 15


def lock_level_context(account: Any) -> dict[str, Any]:
    """The rising lockouts' level of the account and how long its next lock lasts."""
    level = Actions(Actor("-")).sign_in_lock_level(account)
    step = container().login_throttle.limit.step(level + 1)
    return {"lock_level": level, "lock_next_minutes": max(1, round(step / 60))}


@bp.get("/accounts/<uuid>")
@console()
def record(uuid: str) -> Any:
    account = account_or_404(uuid)
    c = container()
    details = admin().store.details(account.uuid)
    if details is None:
        abort(404)
    # The record shows knowledge factors of recovery (birth date, numbers):
    # who looked at whose is part of the trail (issue #11, item 14).
    actions().audit("view", "success", account)
    charter = charter_for(c.charters, account.profile.value)
    accepted = c.accounts.accepted_charter_version(account.uuid, charter.id) if charter else None
    events, total = admin().store.audit_page(
        AuditFilter(account_uuid=account.uuid, login=account.login), 1, RECENT_EVENTS
    )
    return page(
        "record",
        account=account,
        attributes=attribute_rows(account.attributes),  # labelled, in the labels' order
        details=details,
        charter=charter,
        charter_accepted=accepted,
        sessions=len(c.tickets.sessions_for(account.login, c.clock.now())),
        suspended_until=Actions(Actor("-")).sign_in_suspended_until(account),
        **lock_level_context(account),  # rising lockouts (#16)
        events=events,
        events_total=total,
        can_act=may_act_on(rank(frozenset(me().roles)), account.roles),
        # Kinds, names and dates only: never a seed, a credential id or a public key.
        second_factor=factors.state_of(account),
        help_requests=about_account(account.uuid),  # #16
    )
