"""The console's "Demandes d'assistance" (#16): the queue, one request, its steps.

| page | what |
|---|---|
| GET /admin/help-requests?status= | the queue: new, assigned, done, or all open ones |
| GET /admin/help-requests/<id>?q=&canned= | one request (free text escaped), its steps, the |
|  | console's search to link it, the linked account's record actions, the answer |
| POST …/assign, …/link, …/answer, …/close | one step each (CSRF), audited |

Acting on the account is done from its record, with its existing actions and
their checks (target rule included); this page only links to them.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from ...accounts.console import clean_query, may_act_on, rank
from ...accounts.help_requests import (
    CANNED_ANSWERS,
    CASE_LABELS,
    MAX_ANSWER,
    MAX_NOTE,
    STATUS_LABELS,
    HelpRequest,
    Status,
    may_change,
    search_hint,
)
from ...accounts.model import Account
from ...admin import admin
from ...admin.acting import Actor, Refused
from ...admin.help_requests import (
    HelpRequestActions,
    RequestClosed,
    TargetRefused,
    audit_request,
    canned_text,
    help_desk,
)
from ...runtime.container import container
from .blueprint import bp
from .support import Form, console, me, page, page_number

FILTERS: dict[str, tuple[Status, ...]] = {
    "open": (Status.NEW, Status.ASSIGNED),
    "new": (Status.NEW,),
    "assigned": (Status.ASSIGNED,),
    "done": (Status.DONE,),
}


def _enabled() -> None:
    from flask import current_app

    desk = current_app.extensions.get("help_requests")
    if desk is None or not desk.settings.enabled:
        abort(404)


def _actions() -> HelpRequestActions:
    from flask_login import current_user

    return HelpRequestActions(
        Actor(me().login, request.remote_addr or None, frozenset(current_user.roles))
    )


def _request_or_404(request_id: str) -> HelpRequest:
    found = help_desk().store.get(request_id)
    if found is None:
        abort(404)
    return found


def _linked(found: HelpRequest) -> Account | None:
    return container().accounts.get(found.account_uuid) if found.account_uuid else None


def labels() -> dict[str, Any]:
    return {
        "case_label": lambda case: gettext(CASE_LABELS[case]),
        "status_label": lambda status: gettext(STATUS_LABELS[status]),
    }


@bp.get("/help-requests")
@console("help_requests")
def help_requests() -> Any:
    _enabled()
    shown = request.args.get("status", "open")
    if shown not in FILTERS:
        shown = "open"
    per_page = admin().settings.page_size
    items, total = help_desk().store.page(FILTERS[shown], page_number(), per_page)
    return page(
        "help_requests",
        items=items,
        total=total,
        shown=shown,
        filters=list(FILTERS),
        counts=help_desk().store.counts(),
        page_no=page_number(),
        pages=max(1, -(-total // per_page)),
        **labels(),
    )


def _request_page(found: HelpRequest, form: Form | None = None, **extra: Any) -> Any:
    account = _linked(found)
    query = clean_query(request.args.get("q", "")) if "q" in request.args else search_hint(found)
    results = admin().store.search(query, 1, 10) if query and may_change(found) else None
    canned = request.args.get("canned", "")
    answer = extra.pop("answer", None)
    if answer is None and canned in CANNED_ANSWERS:
        answer = canned_text(canned, found, account)
    return page(
        "help_request",
        form=form,
        item=found,
        account=account,
        can_act=account is not None and may_act_on(rank(frozenset(me().roles)), account.roles),
        events=help_desk().store.events(found.id),
        query=query,
        results=results,
        canned=[(key, gettext(text)) for key, text in CANNED_ANSWERS.items()],
        chosen=canned,
        answer=answer or "",
        max_answer=MAX_ANSWER,
        max_note=MAX_NOTE,
        open=may_change(found),
        **labels(),
        **extra,
    )


@bp.get("/help-requests/<request_id>")
@console("help_requests")
def help_request(request_id: str) -> Any:
    _enabled()
    found = _request_or_404(request_id)
    # Personal data of someone who is not (yet) an account: who read it is in the trail.
    audit_request("view", "success", found, actor=me().login, ip=request.remote_addr)
    return _request_page(found)


def _back(found: HelpRequest, message: str, **params: Any) -> Response:
    flash(gettext(message, **params), "success")
    return redirect(url_for("admin.help_request", request_id=found.id), code=303)


def _refused(found: HelpRequest, field: str, exc: Refused, **extra: Any) -> Any:
    form = Form()
    form.refused(field, exc)
    status = 409 if isinstance(exc, RequestClosed) else 400
    return _request_page(_request_or_404(found.id), form, status=status, **extra)


@bp.post("/help-requests/<request_id>/assign")
@console("help_requests")
def help_request_assign(request_id: str) -> Any:
    _enabled()
    found = _request_or_404(request_id)
    try:
        _actions().assign(found)
    except Refused as exc:
        return _refused(found, "assign", exc)
    return _back(found, "Request %(reference)s assigned to you.", reference=found.reference)


@bp.post("/help-requests/<request_id>/link")
@console("help_requests")
def help_request_link(request_id: str) -> Any:
    _enabled()
    found = _request_or_404(request_id)
    if request.form.get("unlink") == "1":
        try:
            _actions().unlink(found)
        except Refused as exc:
            return _refused(found, "link", exc)
        return _back(found, "The request is no longer linked to an account.")
    uuid = str(request.form.get("account", ""))
    account = container().accounts.get(uuid) if 0 < len(uuid) <= 36 else None
    if account is None:
        abort(404)
    try:
        _actions().link(found, account)
    except Refused as exc:
        if isinstance(exc, TargetRefused):
            abort(403)
        return _refused(found, "link", exc)
    return _back(found, "The request is linked to the account %(login)s.", login=account.login)


@bp.post("/help-requests/<request_id>/answer")
@console("help_requests")
def help_request_answer(request_id: str) -> Any:
    _enabled()
    found = _request_or_404(request_id)
    form = Form()
    template = form.text("template", 64)
    text = str(request.form.get("answer", ""))[: MAX_ANSWER * 2]
    actions = _actions()
    try:
        address = actions.answer(found, template, text)
    except Refused as exc:
        return _refused(found, "answer", exc, answer=text[:MAX_ANSWER])
    return _back(found, "The answer was sent to %(address)s.", address=address)


@bp.post("/help-requests/<request_id>/close")
@console("help_requests")
def help_request_close(request_id: str) -> Any:
    _enabled()
    found = _request_or_404(request_id)
    note = str(request.form.get("note", ""))[: MAX_NOTE * 2]
    try:
        _actions().close(found, note)
    except Refused as exc:
        return _refused(found, "note", exc)
    return _back(found, "Request %(reference)s closed.", reference=found.reference)


def about_account(account_uuid: str) -> list[HelpRequest]:
    """The record's box: the requests linked to this account (none when turned off)."""
    from flask import current_app

    desk = current_app.extensions.get("help_requests")
    if desk is None or not desk.settings.enabled:
        return []
    return list(desk.store.about(account_uuid))
