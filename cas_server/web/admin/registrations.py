"""``/admin/registrations``: self-registrations waiting for approval (``[registration]``).

The list, one request's page with its two forms (approve; refuse with a reason),
each CSRF-protected and asking for an explicit confirmation; the decision is made
by :mod:`cas_server.admin.registrations` (checked, done once, audited, mailed).
404 when self-registration is off.
"""

from __future__ import annotations

from typing import Any

from babel import Locale
from flask import abort, flash, redirect, url_for
from flask_babel import get_locale, gettext
from werkzeug.wrappers import Response

from ...accounts.i18n import N_
from ...accounts.recovery import ORGANISATION_TYPES
from ...admin import registrations as queue
from ...admin.acting import Refused
from .blueprint import bp
from .support import Form, actions, console, page, page_number

PER_PAGE = 50


@bp.context_processor
def _registrations_context() -> dict[str, Any]:
    return {"registrations_enabled": queue.runtime() is not None}


def organisation_label(key: str) -> str:
    return gettext(ORGANISATION_TYPES[key]) if key in ORGANISATION_TYPES else key


def country_label(code: str) -> str:
    names = Locale.parse(str(get_locale() or "en")).territories
    return str(names.get(code, code))


LABELS: dict[str, Any] = {"organisation_label": organisation_label, "country_label": country_label}


def _runtime() -> Any:
    r = queue.runtime()
    if r is None:
        abort(404)
    return r


@bp.get("/registrations")
@console(queue.PERMISSION)
def registrations() -> Any:
    r = _runtime()
    number = page_number()
    waiting, total = r.store.awaiting(PER_PAGE, (number - 1) * PER_PAGE)
    pages = max(1, -(-total // PER_PAGE))
    return page(
        "registrations",
        waiting=waiting,
        total=total,
        page_no=min(number, pages),
        pages=pages,
        decided=r.store.recent_decisions(),
        approval=r.settings.require_approval,
        **LABELS,
    )


def _request_page(request_id: str, form: Form | None = None, status: int | None = None) -> Any:
    _runtime()
    try:
        found = queue.waiting(request_id)
    except queue.NotWaiting:
        abort(404)
    return page(
        "registration",
        status=status,
        form=form,
        registration_request=found,
        waiting=found.status.value == "awaiting_approval",
        max_reason=queue.MAX_REASON,
        **LABELS,
    )


@bp.get("/registrations/<request_id>")
@console(queue.PERMISSION)
def registration(request_id: str) -> Any:
    return _request_page(request_id)


def _decide(request_id: str, decision: str) -> Any:
    _runtime()
    form = Form()
    reason = form.text("reason", queue.MAX_REASON) if decision == "refuse" else ""
    if decision == "refuse" and not reason and "reason" not in form.errors:
        form.error("reason", N_("Give the reason: it is sent to the person."))
    confirmed = form.confirmed()
    if not confirmed or not form.ok:
        return _request_page(request_id, form)
    acting = actions()
    try:
        if decision == "approve":
            done = queue.approve(acting, request_id)
        else:
            done = queue.refuse(acting, request_id, reason)
    except queue.NotWaiting:
        abort(404)
    except Refused as exc:
        form.refused("confirm", exc)
        return _request_page(request_id, form, status=409)
    if decision == "approve":
        flash(
            gettext("Account %(login)s created; its login was mailed.", login=done.login), "success"
        )
    else:
        flash(gettext("Request refused; the reason was mailed."), "success")
    return _back()


def _back() -> Response:
    return redirect(url_for("admin.registrations"), code=303)


@bp.post("/registrations/<request_id>/approve")
@console(queue.PERMISSION)
def registration_approve(request_id: str) -> Any:
    return _decide(request_id, "approve")


@bp.post("/registrations/<request_id>/refuse")
@console(queue.PERMISSION)
def registration_refuse(request_id: str) -> Any:
    return _decide(request_id, "refuse")
