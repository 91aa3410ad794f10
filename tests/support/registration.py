"""Self-registration in tests (#16): the form as a browser fills it, the mailed link."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.test import TestResponse

from tests.support.outbound import SmtpSink, body, link_in
from tests.support.sesame import PUBLIC_URL, SesameBrowser, drained

START = "/sesame/register"
PASSWORD = "Nouveau-Secret-2027!"


def registration_overrides(base: dict[str, Any], **registration: Any) -> dict[str, Any]:
    """Sésame's test settings (real SMTP sink) with ``[registration]`` on."""
    out = {k: dict(v) for k, v in base.items()}
    out["registration"] = {"enabled": True, **registration}
    return out


def form(email: str, given: str = "Jean", family: str = "Dupont", **extra: str) -> dict[str, str]:
    data = {
        "email": email,
        "given_name": given,
        "family_name": family,
        "country": "FR",
        "organisation_type": "company",
        "new_password": PASSWORD,
        "confirm_password": PASSWORD,
        "charter": "1",
    }
    data.update(extra)
    return data


def register(browser: SesameBrowser, email: str, **fields: str) -> TestResponse:
    return browser.submit(START, form(email, **fields))


def confirm_path(app: Flask, sink: SmtpSink, to: str, count: int = 1) -> str:
    """The confirmation link of the ``count``-th mail to ``to``, as a path."""
    drained(app, sink)
    mail = sink.wait(count, to=to)[count - 1]
    return link_in(mail).removeprefix(PUBLIC_URL)


def mail_text(app: Flask, sink: SmtpSink, to: str, count: int = 1) -> tuple[str, str]:
    """Subject and body of the ``count``-th mail to ``to``."""
    drained(app, sink)
    mail = sink.wait(count, to=to)[count - 1]
    return str(mail["Subject"]), body(mail)
