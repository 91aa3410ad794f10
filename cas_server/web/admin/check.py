"""/admin/check: "why can't she open Moodle?" (#15).

An account (login or alias) and a service (a URL, a registry id or a name):
whether a sign-in there would reach it, every reason why not or what is
asked on the way, and the attributes the service would receive under their
release names. Read-only (a GET form): no session, no ticket; audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import request
from flask_babel import get_locale, gettext
from flask_login import current_user

from ...accounts.access_check import Reason
from ...accounts.console import clean_query
from ...accounts.i18n import N_
from ...admin.access_check import MAX_SERVICE, AccessCheck
from ...admin.acting import Actor
from ...runtime.container import container
from .. import dates
from .blueprint import bp
from .support import Form, console, me, page


def reason_text(reason: Reason) -> str:
    """A reason in the reader's language; dates in words, nested messages translated."""
    values: dict[str, Any] = {}
    for key, value in reason.params.items():
        if isinstance(value, datetime | float):
            values[key] = dates.when(value)
        elif key == "why":
            values[key] = gettext(str(value))
        else:
            values[key] = value
    return str(gettext(reason.message, **values))


@bp.get("/check")
@console("check")
def check() -> Any:
    form = Form()
    login = clean_query(str(request.args.get("login", "")))[:128]
    service = str(request.args.get("service", "")).strip()[:MAX_SERVICE]
    form.values.update(login=login, service=service)
    c = container()
    services = [(s.id, s.name) for s in c.services]
    asked = "login" in request.args or "service" in request.args
    if not asked:
        return page("check", form=form, result=None, services=services)
    if not login:
        form.error("login", N_("Type the login or alias of the account."))
    if not service:
        form.error("service", N_("Type the service's address, id or name."))
    account = c.accounts.find_by_login(login) if login else None
    if login and account is None:
        form.error("login", N_("No account has the login or alias %(login)s."), login=login)
    if not form.ok or account is None:
        return page("check", form=form, result=None, services=services)
    actor = Actor(me().login, request.remote_addr or None, frozenset(current_user.roles))
    result = AccessCheck(actor).check_account(account, service, str(get_locale() or "") or None)
    return page(
        "check",
        form=form,
        result=result,
        services=services,
        blocking=[reason_text(r) for r in result.verdict.blocking],
        steps=[reason_text(r) for r in result.verdict.steps],
    )
