"""A browser for the Sésame pages, and what the Sésame tests share.

:class:`SesameBrowser` drives the pages like a browser (CSRF token, the
accessible CAPTCHA question, language). The mail and SMS servers it reads
from are in :mod:`tests.support.outbound`; the fixtures (``sesame_overrides``,
``sesame_client``) in ``tests/web/conftest.py``.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.captcha_solver import answer_in as captcha_answer_in
from tests.support.html import CSRF_RE
from tests.support.outbound import SmtpSink
from tests.support.paths import ROOT

CHARTERS = ROOT / "config" / "charters" / "charters.toml"
PUBLIC_URL = "https://cas.univ-test.fr"


def hidden_fields(html: str) -> dict[str, str]:
    """The CSRF token, and the answer to the accessible CAPTCHA question when there is one."""
    fields: dict[str, str] = {}
    token = CSRF_RE.search(html)
    if token:
        fields["csrf_token"] = token.group(1)
    answer = captcha_answer_in(html)
    if answer is not None:
        fields["captcha"] = "question"
        fields["captcha_answer"] = answer
    return fields


class SesameBrowser:
    def __init__(self, client: FlaskClient, lang: str = "fr") -> None:
        self.client = client
        self.lang = lang
        client.get(f"/login?lang={lang}")

    def get(self, url: str) -> TestResponse:
        return self.client.get(url)

    def page(self, url: str) -> tuple[str, dict[str, str]]:
        """GET a form (with the CAPTCHA as a question); its HTML and the hidden fields to send."""
        sep = "&" if "?" in url else "?"
        html = self.client.get(f"{url}{sep}captcha=question").get_data(as_text=True)
        return html, self.hidden(html)

    def hidden(self, html: str) -> dict[str, str]:
        return hidden_fields(html)

    def submit(self, url: str, data: dict[str, str], action: str | None = None) -> TestResponse:
        """Load the form at ``url`` and post ``data`` (plus its hidden fields) to ``action``."""
        _, fields = self.page(url)
        return self.client.post(action or url, data={**fields, **data})

    def post(self, url: str, data: dict[str, str], html: str) -> TestResponse:
        """Post a form found in an already loaded page (CSRF from it)."""
        return self.client.post(url, data={**self.hidden(html), **data})


def drained(app: Flask, sink: SmtpSink | None = None) -> list[EmailMessage]:
    """Once every mail and SMS queued so far has been handed over: the mails delivered."""
    state = sesame_state(app)
    state.outbox.flush()
    state.sms.flush()
    return sink.delivered() if sink is not None else []


def sesame_state(app: Flask) -> Any:
    return app.extensions["sesame"]
