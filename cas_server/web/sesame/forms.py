"""Reading the self-service forms: every field parsed, every error kept for the page.

A form never raises: each bad field adds a translated message, shown in the
error summary (linked to the field) and beside the field, with a 400.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from flask import request
from flask_babel import gettext

from ...accounts.i18n import N_
from ...accounts.identity import (
    Identification,
    IdentifierKind,
    InputError,
    clean_text,
    has_control_characters,
    parse_birth_date,
    parse_identifier,
    parse_kind,
)
from ...accounts.tokens import normalize_code
from ..passwords import MAX_PASSWORD_FIELD, read_new_password

T = TypeVar("T")
MAX_RAW = 4096  # what a form field is read up to; parsers refuse what is longer


class Form:
    def __init__(self) -> None:
        self.errors: dict[str, str] = {}
        self.values: dict[str, str] = {}

    def raw(self, name: str) -> str:
        value = str(request.form.get(name, ""))[:MAX_RAW]
        if not has_control_characters(value):
            self.values[name] = value[:300]
        return value

    def error(self, field: str, message: str, **params: Any) -> None:
        self.errors.setdefault(field, str(gettext(message, **params)))

    def take(self, parser: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        try:
            return parser(*args, **kwargs)
        except InputError as exc:
            self.error(exc.field, exc.message)
            return None

    @property
    def ok(self) -> bool:
        return not self.errors

    def context(self) -> dict[str, Any]:
        return {"errors": self.errors, "values": self.values}


def read_identification(
    form: Form, kinds: tuple[IdentifierKind, ...], today: date
) -> Identification | None:
    """Kind of number, the number, the birth date (UPHF's three fields)."""
    raw_kind = form.raw("kind") or (kinds[0].value if len(kinds) == 1 else "")
    kind = form.take(parse_kind, raw_kind, kinds)
    value = form.take(parse_identifier, kind or IdentifierKind.LOGIN, form.raw("identifier"))
    born = form.take(parse_birth_date, form.raw("birth_date"), today)
    if kind is None or value is None or born is None:
        return None
    return Identification(kind, value, born)


def read_text(form: Form, name: str, max_length: int = 128, required: bool = True) -> str | None:
    text = form.take(clean_text, name, form.raw(name), max_length)
    if text is not None and required and not text:
        form.error(name, N_("This field is required."))
        return None
    return text


def read_password(form: Form) -> str | None:
    """The new password and its confirmation (shared partial's field names)."""
    new, same = read_new_password(request.form)
    if not new:
        form.error("new_password", N_("Choose a password."))
        return None
    if len(new) >= MAX_PASSWORD_FIELD:
        form.error("new_password", N_("This password is too long."))
        return None
    if has_control_characters(new):
        form.error("new_password", N_("Your password contains characters that are not allowed."))
        return None
    if not same:
        form.error("confirm_password", N_("The two passwords are different."))
        return None
    return new


def read_code(form: Form) -> str | None:
    """The 6-digit code sent by mail or SMS, as typed back."""
    code = normalize_code(form.raw("code"))
    if len(code) != 6:
        form.error("code", N_("Enter the 6 digits of the code you received."))
        return None
    return code


def read_checkbox(form: Form, name: str, message: str) -> bool:
    checked = request.form.get(name) in ("1", "on", "yes", "true")
    if not checked:
        form.error(name, message)
    return checked
