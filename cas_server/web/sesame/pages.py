"""Rendering helpers of the self-service pages."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_babel import gettext as _

from ...accounts.identity import IDENTIFIER_HINTS, IDENTIFIER_LABELS
from ...accounts.joker import MAX_ANSWER_LENGTH, QUESTIONS
from ...accounts.model import Account
from ...runtime.sesame import sesame
from ..passwords import password_form_context
from ..security import error_page
from ..theming import render_page
from . import challenge
from .forms import Form


def form_page(template: str, form: Form | None, status: int | None, **context: Any) -> Any:
    """``template`` with ``form``'s errors and values (none without one); a form with
    errors answers 400 unless told otherwise. The self-service and profile pages' own."""
    if form is not None:
        context = {**form.context(), **context}
        if status is None and not form.ok:
            status = 400
    context.setdefault("errors", {})
    context.setdefault("values", {})
    return render_page(template, status=status or 200, **context)


def page(name: str, form: Form | None = None, status: int | None = None, **context: Any) -> Any:
    """``sesame/<name>.html``; a form with errors answers 400 unless told otherwise."""
    return form_page(f"sesame/{name}.html", form, status, **context)


def path_start(path: str, form: Form | None = None, **extra: Any) -> Any:
    """The first page of a forgotten-password path (``password_<path>``), its CAPTCHA."""
    endpoint = f"sesame.password_{path}"
    return page(
        f"password_{path}",
        form,
        captcha=challenge.new_challenge(f"password_{path}", endpoint),
        **extra,
    )


def code_page(endpoint: str, flow: str, form: Form | None = None) -> Any:
    """Where the 6-digit code sent is typed back, posted to ``endpoint``."""
    return page("code", form, action=url_for(endpoint), flow=flow)


def joker_page(endpoint: str, question: str, form: Form | None = None) -> Any:
    """The joker question (a key of QUESTIONS, real or decoy), answered to ``endpoint``."""
    return page(
        "joker",
        form,
        question=_(QUESTIONS[question]),
        action=url_for(endpoint),
        max_length=MAX_ANSWER_LENGTH,
    )


def identifier_kinds() -> list[dict[str, str]]:
    return [
        {
            "value": kind.value,
            "label": _(IDENTIFIER_LABELS[kind]),
            "hint": _(IDENTIFIER_HINTS[kind]),
        }
        for kind in sesame().settings.identifier_kinds
    ]


def joker_questions() -> list[tuple[str, str]]:
    return [(key, _(QUESTIONS[key])) for key in sesame().settings.joker_questions]


def password_fields(
    form: Form, account: Account, violations: list[Any] | None = None
) -> dict[str, Any]:
    """The shared partial's context, with this form's password errors in it and the
    login and name of ``account`` (the rules that keep them out of the password)."""
    context = password_form_context(violations)
    context.update(login=account.login, full_name=account.full_name)
    errors = list(context["password_errors"])
    for field in ("new_password", "confirm_password"):
        if field in form.errors and form.errors[field] not in errors:
            errors.append(form.errors[field])
    context["password_errors"] = errors
    if violations and "new_password" not in form.errors:
        # In the error summary too, linked to the field; the details are beside it.
        form.errors["new_password"] = _("The password does not follow the rules below.")
    return context


def too_many() -> Any:
    return error_page(
        429,
        _("Too many attempts"),
        _("Too many attempts from your connection or for this account. Please try again later."),
    )


def expired() -> Any:
    return error_page(
        410,
        _("Link or step no longer valid"),
        _(
            "This link or this step is no longer valid: it has already been used, it has "
            "expired, or a newer one replaced it. Please start again."
        ),
    )
