""" "Problème de connexion ?": the public help form (ENT77's parents' form, #16).

``/sesame/help-request``: who asks, about which account as far as they know,
how to answer them, what is wrong; the self-hosted CAPTCHA. Nothing is
looked up: the answer page is the same whether the login typed exists or
not (T1), and costs the same (T2); the acknowledgement mail (with the
reference) is sent after the answer. The limits per address, then per
contact, are taken before anything else is done (T8).
"""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Any

from flask import Flask, current_app, url_for
from flask_babel import gettext as _

from ...accounts.help_requests import (
    CASE_LABELS,
    MAX_LOGIN_HINT,
    MAX_NAME,
    MAX_PHONE,
    MAX_SCHOOL,
    MAX_TEXT,
    Case,
    Draft,
    HelpRequest,
    read_draft,
)
from ...admin.help_requests import audit_request, help_desk, init_help_requests
from ...runtime.container import container
from ...runtime.sesame import language, now, public_link
from . import challenge
from .blueprint import bp
from .forms import Form
from .pages import page, too_many
from .runtime import client_ip, later, send_mail

FORM = "help_request"
FIELDS = (
    "requester_name",
    "child_name",
    "school",
    "login_hint",
    "contact_email",
    "contact_phone",
    "case",
    "text",
)
LIMITS = {
    "requester_name": MAX_NAME,
    "child_name": MAX_NAME,
    "school": MAX_SCHOOL,
    "login_hint": MAX_LOGIN_HINT,
    "contact_email": 254,
    "contact_phone": MAX_PHONE,
    "text": MAX_TEXT,
}


def enabled() -> bool:
    desk = current_app.extensions.get("help_requests")
    return desk is not None and desk.settings.enabled


def _form_page(form: Form | None = None) -> Any:
    return page(
        "help_request",
        form,
        cases=[(case.value, _(CASE_LABELS[case])) for case in Case],
        limits=LIMITS,
        captcha=challenge.new_challenge(FORM, "sesame.help_request"),
    )


@bp.get("/help-request")
def help_request() -> Any:
    if not enabled():
        return page("disabled", status=404)
    return _form_page()


def _within(key: str, limit: int) -> bool:
    settings = help_desk().settings
    return container().counters.hit(key[:255], now(), settings.window) <= limit


def _contact_key(draft: Draft) -> str:
    contact = (draft.contact_email or draft.contact_phone or "").strip().casefold()
    return hashlib.sha256(contact.encode()).hexdigest()


@bp.post("/help-request")
def help_request_submit() -> Any:
    if not enabled():
        return page("disabled", status=404)
    settings = help_desk().settings
    # Reserved before anything is read or checked: a burst never runs ahead of it.
    if not _within(f"help-ip:{client_ip()}", settings.per_ip):
        audit_request("submit", "rate_limited", None, ip=client_ip(), by="address")
        return too_many()
    form = Form()
    values = {name: form.raw(name) for name in FIELDS}
    if "text" in form.values:
        form.values["text"] = values["text"][: MAX_TEXT + 200]  # given back whole, not cut at 300
    draft, errors = read_draft(values)
    for field, message in errors.items():
        form.error(field, message)
    passed = challenge.verify(form, FORM)
    if draft is None or not passed:
        return _form_page(form)
    if not _within(f"help-contact:{_contact_key(draft)}", settings.per_contact):
        audit_request("submit", "rate_limited", None, ip=client_ip(), by="contact")
        return too_many()
    created = help_desk().store.create(draft, language(), now())
    audit_request("submit", "success", created, ip=client_ip(), case=created.case.value)
    later(partial(_acknowledge, created), "help request mail")
    return page(
        "help_request_sent",
        reference=created.reference,
        by_mail=bool(created.contact_email),
    )


def _acknowledge(created: HelpRequest) -> None:
    """In the background: the acknowledgement (with the reference) and the help desk's notice."""
    if created.contact_email:
        send_mail(
            "help_request_received",
            created.contact_email,
            reference=created.reference,
            case=_(CASE_LABELS[created.case]),
            requester_name=created.requester_name,
        )
    notify = help_desk().settings.notify_address
    if notify:
        send_mail(
            "help_request_new",
            notify,
            reference=created.reference,
            case=_(CASE_LABELS[created.case]),
            console_url=public_link("admin.help_request", request_id=created.id),
        )


def login_links() -> list[tuple[str, str]]:
    """Under the login form, after Sésame's: "Problème de connexion ?"."""
    if not enabled():
        return []
    return [(_("Problem signing in?"), url_for("sesame.help_request"))]


def init_app(app: Flask) -> None:
    """Called by the Sésame blueprint's ``init_app``: settings, store, the login link."""
    init_help_requests(app)
    app.extensions.setdefault("cas_login_links", []).append(login_links)

    @app.context_processor
    def _help_request_context() -> dict[str, Any]:
        return {"help_requests_enabled": enabled()}
