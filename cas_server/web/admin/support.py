"""What every console view shares: access, the actor, forms, labels, dates, pages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar, cast

from flask import abort, request
from flask_babel import gettext
from flask_login import current_user

from ...accounts.console import CONSOLE_ROLES, may
from ...accounts.i18n import N_
from ...accounts.model import Account
from ...admin.acting import Actor, Refused
from ...admin.actions import Actions
from ...runtime.container import container
from .. import dates
from ..console_auth import require_account
from ..labels import attribute_label, profile_label
from ..theming import render_page
from .audit_labels import audit_action_label, audit_outcome_label
from .gate import second_factor_missing

F = TypeVar("F", bound=Callable[..., Any])
MAX_FIELD = 4096

STATUS_LABELS = {
    "active": N_("Active"),
    "not_activated": N_("Not activated"),
    "locked": N_("Locked"),
    "disabled": N_("Disabled"),
}
SOURCE_LABELS = {"local": N_("Local"), "csv": N_("CSV import"), "ldap": N_("LDAP directory")}
ROLE_LABELS = {
    "admin": N_("Administrator"),
    "helpdesk": N_("Help desk"),
    "impersonate": N_("Sign in as someone (impersonation)"),
}
FACTOR_LABELS = {
    "totp": N_("Authenticator app or token (TOTP)"),
    "webauthn": N_("Security key or passkey"),
    "email": N_("Codes by e-mail"),
    "sms": N_("Codes by SMS"),
}
FIELD_LABELS = {
    "login": N_("Login"),
    "given_name": N_("Given name"),
    "family_name": N_("Family name"),
    "birth_date": N_("Birth date"),
    "profile": N_("Profile"),
    "student_number": N_("Student number"),
    "ine": N_("INE"),
    "personnel_number": N_("Personnel number"),
    "personal_email": N_("Personal e-mail"),
    "mobile": N_("Mobile"),
    "structure": N_("Class / structure"),
    "external_id": N_("External id"),
}


# The institution's words and the audit trail's labels (web/labels.py): configuration,
# theme, then catalog; an unknown value is shown as it is.
WORDED = {
    "profile": profile_label,
    "attribute": attribute_label,
    "action": audit_action_label,
    "outcome": audit_outcome_label,
}


def label(kind: str, value: str | None) -> str:
    """The translated name of a status, profile, source, role, CSV column, attribute,
    audit action, audit outcome or kind of second factor."""
    if value is None:
        return ""
    if kind in WORDED:
        return WORDED[kind](str(value))
    table = {
        "status": STATUS_LABELS,
        "source": SOURCE_LABELS,
        "role": ROLE_LABELS,
        "field": FIELD_LABELS,
        "factor": FACTOR_LABELS,
    }[kind]
    return gettext(table[value]) if value in table else value


def when(value: datetime | float | None, fmt: str = "medium") -> str:
    """A date and time in words, in the institution's zone and the page's language.

    ``fmt`` is kept for older themes' templates and ignored: one way to write a date.
    """
    del fmt
    return dates.when(value)


def console(what: str = "console") -> Callable[[F], F]:
    """A console page: signed in through CAS with a console role, allowed to do ``what``."""

    def decorate(view: F) -> F:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if not may(current_user.roles, what):
                abort(403)
            instead = second_factor_missing()  # [admin] require_mfa
            if instead is not None:
                return instead
            return view(*args, **kwargs)

        return cast(F, require_account(CONSOLE_ROLES)(checked))

    return decorate


def me() -> Account:
    account: Account = current_user.account
    return account


def actions() -> Actions:
    return Actions(Actor(me().login, request.remote_addr or None, frozenset(current_user.roles)))


def account_or_404(uuid: str) -> Account:
    account = container().accounts.get(uuid) if len(uuid) <= 36 else None
    if account is None:
        abort(404)
    return account


class Form:
    """A posted form: values kept for the page, one translated error per field."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}
        self.values: dict[str, str] = {}

    def text(self, name: str, max_length: int = 320) -> str:
        value = str(request.form.get(name, ""))[:MAX_FIELD].strip()
        if len(value) > max_length:
            self.error(name, N_("This value is too long."))
            return ""
        self.values[name] = value
        return value

    def checked(self, name: str) -> bool:
        return request.form.get(name) in ("1", "on", "yes", "true")

    def confirmed(self) -> bool:
        """The explicit confirmation every action asks for."""
        if not self.checked("confirm"):
            self.error("confirm", N_("Tick the box to confirm this action."))
            return False
        return True

    def error(self, name: str, message: str, **params: Any) -> None:
        self.errors.setdefault(name, gettext(message, **params))

    def refused(self, name: str, exc: Refused) -> None:
        self.error(name, exc.message, **exc.params)

    @property
    def ok(self) -> bool:
        return not self.errors


def page(name: str, status: int | None = None, form: Form | None = None, **context: Any) -> Any:
    """An ``admin/`` template; a page with errors answers 400 unless told otherwise."""
    errors = form.errors if form else {}
    values = form.values if form else {}
    code = status if status is not None else (400 if errors else 200)
    return render_page(f"admin/{name}.html", code, errors=errors, values=values, **context)


def page_number() -> int:
    try:
        return max(1, min(int(request.args.get("page", "1")), 100_000))
    except ValueError:
        return 1
