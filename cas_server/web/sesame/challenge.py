"""The CAPTCHA on a form: drawn by :mod:`cas_server.captcha`, checked once, in the session.

``?captcha=question`` (a link beside the image) swaps the image for the
accessible question, shown in the user's language. The session holds only
HMACs of the accepted answers; the nonce is recorded when checked, so a
replayed session cookie fails. The CAPTCHA only slows scripts: the limits
per address (checked before it) and per account are what bound them.
"""

from __future__ import annotations

import base64
from typing import Any

from flask import current_app, request, session, url_for

from ... import captcha
from ...accounts.i18n import N_
from ...runtime.container import container
from ...runtime.sesame import language, now, sesame
from .forms import Form

SESSION_KEY = "captcha"
MAX_AGE = 1200.0


def _key() -> bytes:
    return str(current_app.config["SECRET_KEY"]).encode() + b":captcha"


def _kind() -> str:
    wanted = request.values.get("captcha")
    return "question" if wanted == "question" else "image"


def required(form_name: str) -> bool:
    return sesame().settings.captcha.required_on(form_name)


def _question_text(challenge: captcha.Challenge) -> str:
    lang = language().split("_")[0].split("-")[0]
    return challenge.text.get(lang) or challenge.text[captcha.LANGUAGES[0]]


def new_challenge(form_name: str, endpoint: str, **values: Any) -> dict[str, Any] | None:
    """A fresh challenge for this form, remembered in the session; its template context."""
    if not required(form_name):
        return None
    kind = _kind()
    if kind == "question":
        challenge = captcha.question_challenge()
    else:
        challenge = captcha.image_challenge(sesame().settings.captcha.length)
    nonce = captcha.new_nonce()
    state = dict(session.get(SESSION_KEY) or {})
    state[form_name] = {
        "n": nonce,
        "h": captcha.digests(_key(), nonce, challenge),
        "k": kind,
        "t": now(),
    }
    session[SESSION_KEY] = state
    context: dict[str, Any] = {"kind": kind}
    if kind == "question":
        context["question"] = _question_text(challenge)
        context["switch_url"] = url_for(endpoint, **values)
    else:
        encoded = base64.b64encode(challenge.svg.encode()).decode()
        context["image"] = f"data:image/svg+xml;base64,{encoded}"
        # Shown a quarter larger than drawn: the strokes stay sharp, the letters easier to read.
        context["width"], context["height"] = captcha.WIDTH * 5 // 4, captcha.HEIGHT * 5 // 4
        context["switch_url"] = url_for(endpoint, captcha="question", **values)
    return context


def verify(form: Form, form_name: str) -> bool:
    """Check the answer once; adds the error to the form when wrong or stale."""
    if not required(form_name):
        return True
    state = dict(session.get(SESSION_KEY) or {})
    entry = state.pop(form_name, None)
    session[SESSION_KEY] = state
    typed = form.raw("captcha_answer")
    if not isinstance(entry, dict) or now() - float(entry.get("t", 0)) > MAX_AGE:
        form.error("captcha_answer", N_("The check has expired. Please answer the new one."))
        return False
    stored = entry.get("h")
    expected = [str(h) for h in stored] if isinstance(stored, list) else [str(stored)]
    nonce = str(entry.get("n"))
    if not captcha.matches(_key(), nonce, str(entry.get("k")), typed, expected):
        form.error("captcha_answer", N_("The answer to the check is not right. Please try again."))
        return False
    # One use, even if an old session cookie is sent again.
    if container().counters.hit(f"captcha:{nonce}", now(), MAX_AGE * 2) != 1:
        form.error("captcha_answer", N_("The check has expired. Please answer the new one."))
        return False
    return True
