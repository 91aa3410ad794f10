"""A mail from the theme's template: ``themes/<chain>/templates/mail/<name>.txt``.

Its first line is the subject, the rest the body, rendered in the
recipient's language with the request's theme chain (or the command
line's, :func:`cas_server.runtime.offline.offline_request`).
"""

from __future__ import annotations

from typing import Any

from flask import render_template
from flask_babel import force_locale

from ..outbound.mail import Message
from .themes import theme_template


def render_message(name: str, to: str, language: str, **context: Any) -> Message:
    """``mail/<name>.txt`` from the request's theme chain, in ``language``.

    Needs an application context (a request's or the CLI's).
    """
    with force_locale(language):
        text = render_template(theme_template(f"mail/{name}.txt"), **context)
    subject, _, body = text.lstrip("\n").partition("\n")
    return Message(to=to, subject=" ".join(subject.split()), body=body.strip("\n") + "\n")
