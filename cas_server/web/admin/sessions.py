"""/admin/sessions: the session explorer (#15): search live SSO sessions, end them.

Without a search, the page counts sessions per account (what the console
showed before, on the SQL store). A search asks the session directory
(:mod:`cas_server.admin.sessions`). Ending a session, all of a person's or
all from one address goes through a confirmation page that asks a reason.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_babel import get_locale, gettext, ngettext
from werkzeug.wrappers import Response

from ...accounts.console import clean_query
from ...accounts.devices import describe, phrase
from ...accounts.i18n import N_
from ...admin import admin
from ...admin.acting import Actor, Refused
from ...admin.sessions import (
    MAX_HOURS,
    MAX_REASON,
    SCOPES,
    Ended,
    SessionDesk,
    SessionSearch,
    normalize_ip,
    valid_handle,
)
from ...protocol.cas.ports import SessionRecord
from ...runtime.container import container
from ...storage.sql.console import session_counts
from ...storage.sql.tickets import SqlTicketRegistry
from .blueprint import bp
from .support import Form, console, me, page, page_number


def desk() -> SessionDesk:
    from flask_login import current_user

    return SessionDesk(
        Actor(me().login, request.remote_addr or None, frozenset(current_user.roles))
    )


def _language() -> str:
    return str(get_locale() or container().settings.default_language)


def describe_session(record: SessionRecord, desk: SessionDesk) -> dict[str, Any]:
    """What a row shows, in the reader's language."""
    c = container()
    client = record.client
    message, values = phrase(describe(client.user_agent if client else None))
    network = None
    if client is not None and client.network:
        network = c.sessions_settings.network_label(client.network, _language()) or client.network
    owner = desk.owner(record.principal_id)
    services = []
    for used in record.services:
        registered = c.services.get(used.service_id)
        services.append(registered.name if registered else used.service)
    return {
        "record": record,
        "owner": owner,
        "device": gettext(message, **values),
        "ip": client.ip if client else None,
        "network": network,
        "public": client.public if client else None,
        "services": services,
        "may_end": desk.may_end(record),
    }


def _search_form(form: Form) -> SessionSearch:
    """The explorer's GET form, checked: each bad field a clear error (400)."""
    args = request.args
    login = clean_query(str(args.get("login", "")))[:128]
    ip_text = str(args.get("ip", "")).strip()[:64]
    network = str(args.get("network", "")).strip()[:64]
    service_id = str(args.get("service", "")).strip()[:64]
    hours_text = str(args.get("older_than", "")).strip()[:8]
    form.values.update(
        login=login, ip=ip_text, network=network, service=service_id, older_than=hours_text
    )
    ip = None
    if ip_text:
        ip = normalize_ip(ip_text)
        if ip is None:
            form.error("ip", N_("Type an IPv4 or IPv6 address."))
    c = container()
    if network and network not in {n.key for n in c.sessions_settings.networks}:
        form.error("network", N_("Choose a network from the list."))
    if service_id and c.services.get(service_id) is None:
        form.error("service", N_("Choose a service from the list."))
    hours = None
    if hours_text:
        if not hours_text.isdigit() or not 1 <= int(hours_text) <= MAX_HOURS:
            form.error(
                "older_than",
                N_("Type a number of hours between 1 and %(max)s."),
                max=MAX_HOURS,
            )
        else:
            hours = int(hours_text)
    return SessionSearch(
        login=login or None,
        ip=ip,
        network=network or None,
        service_id=service_id or None,
        older_than_hours=hours,
    )


def _counts() -> dict[str, Any]:
    """Sessions per account, most first (the SQL store only)."""
    c = container()
    per_page = admin().settings.page_size
    store: Any = c.tickets
    while not isinstance(store, SqlTicketRegistry) and hasattr(store, "store"):
        store = store.store  # unwrap decorators (metrics)
    if not isinstance(store, SqlTicketRegistry):
        return {"counts": None}
    rows, principals, total = session_counts(
        store.engine, c.clock.now(), per_page, (page_number() - 1) * per_page
    )
    accounts = {login: c.accounts.find_by_login(login) for login, _ in rows}
    pages = max(1, -(-principals // per_page))
    return {
        "counts": rows,
        "accounts": accounts,
        "principals": principals,
        "total": total,
        "page_no": min(page_number(), pages),
        "pages": pages,
    }


def _choices() -> dict[str, Any]:
    c = container()
    language = _language()
    return {
        "networks": [(n.key, n.label(language)) for n in c.sessions_settings.networks],
        "service_choices": [(s.id, s.name) for s in c.services],
    }


@bp.get("/sessions")
@console()
def sessions() -> Any:
    form = Form()
    search = _search_form(form)
    context: dict[str, Any] = {"search": search, **_choices()}
    if not form.ok or search.empty:
        context.update(_counts())
        return page("sessions", form=form, results=None, **context)
    d = desk()
    records = d.search(search)
    rows = [describe_session(r, d) for r in records]
    return page("sessions", form=form, results=rows, counts=None, **context)


# Ending: one, a person's, an address's -----------------------------------------------


def _target() -> tuple[str, str]:
    """(scope, value) of the end asked, from the query or the form; 404 if malformed."""
    scope = str(request.values.get("scope", ""))
    if scope not in SCOPES:
        abort(404)
    if scope == "one":
        value = str(request.values.get("handle", ""))
        if not valid_handle(value):
            abort(404)
    elif scope == "person":
        value = clean_query(str(request.values.get("login", "")))[:128]
        if not value:
            abort(404)
    else:
        value = normalize_ip(str(request.values.get("ip", ""))) or ""
        if not value:
            abort(404)
    return scope, value


def _end_page(scope: str, value: str, form: Form | None = None) -> Any:
    d = desk()
    record = None
    owner = None
    if scope == "one":
        found = d.session(value)
        if found is None:
            abort(404)
        record = describe_session(found, d)
        owner = record["owner"]
    elif scope == "person":
        owner = d.owner(value)
        if owner is None:
            abort(404)
    count = None
    if scope == "person" and owner is not None:
        c = container()
        count = len(c.sessions.sessions_of(owner.login, c.clock.now()))
    return page(
        "session_end",
        form=form,
        scope=scope,
        value=value,
        row=record,
        owner=owner,
        count=count,
        max_reason=MAX_REASON,
    )


@bp.get("/sessions/end")
@console("session_end")
def session_end_form() -> Any:
    scope, value = _target()
    return _end_page(scope, value)


@bp.post("/sessions/end")
@console("session_end")
def session_end() -> Any:
    scope, value = _target()
    form = Form()
    reason = form.text("reason", MAX_REASON)
    if not reason:
        form.error("reason", N_("Give the reason for ending these sessions."))
    if not form.confirmed() or not form.ok:
        return _end_page(scope, value, form)
    d = desk()
    try:
        if scope == "one":
            ended = d.end_one(value, reason)
        elif scope == "person":
            ended = d.end_person(value, reason)
        else:
            ended = d.end_address(value, reason)
    except Refused as exc:
        if exc.message == N_("This session has already ended."):
            abort(404)
        form.refused("confirm", exc)
        return _end_page(scope, value, form)
    return _done(ended, scope, value)


def _done(ended: Ended, scope: str, value: str) -> Response:
    flash(
        ngettext("%(num)s SSO session ended.", "%(num)s SSO sessions ended.", ended.count),
        "success",
    )
    if ended.skipped:
        flash(
            ngettext(
                "%(num)s session was left open: its account holds a console role equal to "
                "or above yours.",
                "%(num)s sessions were left open: their accounts hold a console role equal to "
                "or above yours.",
                ended.skipped,
            ),
            "error",
        )
    back: dict[str, Any] = {}
    if scope == "person":
        back["login"] = value
    elif scope == "address":
        back["ip"] = value
    return redirect(url_for("admin.sessions", **back), code=303)
