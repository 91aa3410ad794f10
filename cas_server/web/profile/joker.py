"""/profile/joker: change the joker (secret) question and its answer.

The answer is normalised and stored only as a slow hash, never shown, and
may be neither the login nor the password (T13: ``accounts.joker``). Asks
for the current password (throttled per account); a mail confirms (T11).
"""

from __future__ import annotations

from typing import Any

from ...accounts.joker import QUESTIONS, parse_answer, parse_question
from ...accounts.model import Account
from ...runtime.container import container
from ...runtime.sesame import sesame, utcnow
from ..sesame.forms import Form
from ..sesame.pages import joker_questions
from .blueprint import bp
from .runtime import (
    account,
    audit,
    confirm,
    done,
    page,
    read_current_password,
    refused_by_password,
    signed_in,
)


def _page(who: Account, form: Form | None = None) -> Any:
    form = form or Form()
    question = sesame().store.recovery_info(who.uuid).joker_question
    if "joker_question" not in form.values and question in QUESTIONS:
        form.values["joker_question"] = str(question)
    return page(
        "joker",
        form,
        questions=joker_questions(),
        has_joker=question in QUESTIONS,
    )


@bp.get("/joker")
@signed_in
def joker() -> Any:
    return _page(account())


@bp.post("/joker")
@signed_in
def joker_submit() -> Any:
    who = account()
    s = sesame()
    form = Form()
    question = form.take(parse_question, form.raw("joker_question"), s.settings.joker_questions)
    current = read_current_password(form)
    answer = form.take(
        parse_answer, form.raw("joker_answer"), login=who.login, password=current or ""
    )
    form.values.pop("joker_answer", None)  # never written back into the page
    if question is None or answer is None or current is None:
        return _page(who, form)
    refused = refused_by_password(form, who, current, "joker", lambda: _page(who, form))
    if refused is not None:
        return refused
    s.store.set_joker(who.uuid, question, container().passwords.hasher(answer), utcnow())
    audit("joker", "success", who, question=question)
    confirm(who, "joker")
    return done("profile.overview", "joker")
