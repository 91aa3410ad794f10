""" "Créer un compte" in Chromium (#16): the form with its live checklist, its errors,
the answer, the mailed link's confirmation, the console's queue and one request,
then a sign-in with the new account; axe-core on each page, French and English.

On ``features_stack`` (``[registration]`` on, with approval, mail to a real SMTP sink
in this process: ``features_sink``).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.browser import ENGLISH, Audit, Shoot, Stack, expect, sign_in, sign_in_to_console
from tests.support.captcha_solver import answer_in
from tests.support.outbound import SmtpSink, body

pytestmark = pytest.mark.browser

PASSWORD = "Externe-Secret-2027!"
CONFIRM_RE = re.compile(r"https?://\S+/sesame/register/confirm/\S+")


def _fill(page: Any, email: str, family: str) -> None:
    page.fill("#email", email)
    page.fill("#given_name", "Élise")
    page.fill("#family_name", family)
    page.select_option("#organisation_type", "company")
    page.fill("#new_password", PASSWORD)
    page.fill("#confirm_password", PASSWORD)
    answer = answer_in(page.content())
    assert answer is not None
    page.fill("#captcha_answer", answer)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_an_external_person_creates_an_account_and_signs_in(
    page: Any, features_stack: Stack, features_sink: SmtpSink, audit: Audit, shoot: Shoot, lang: str
) -> None:
    cas = features_stack.cas
    sink = features_sink
    email = f"elise.{lang}@partner.example"
    family = f"Martin-{lang.upper()}"
    page.goto(f"{cas}/login?lang={lang}")
    link = "Créer un compte" if lang == "fr" else "Create an account"
    page.get_by_role("link", name=link).click()
    expect(page.locator("h1")).to_have_text(link)
    page.goto(f"{cas}/sesame/register?captcha=question")
    audit(page, f"registration-form-{lang}")
    shoot(page, f"registration-form-{lang}")

    # Sent empty (the browser's own checks off): the error summary, then the form again.
    page.evaluate("() => document.querySelector('form.form').noValidate = true")
    page.locator("button[type=submit]").click()
    expect(page.locator(".error-summary").first).to_be_visible()
    audit(page, f"registration-errors-{lang}")

    page.goto(f"{cas}/sesame/register?captcha=question")
    _fill(page, email, family)
    # The live checklist has seen the password.
    expect(page.locator(".policy-rule.is-met").first).to_be_attached()
    page.locator("button[type=submit]").click()
    expect(page.locator("h1")).to_have_text(
        "Demande prise en compte" if lang == "fr" else "Request received"
    )
    audit(page, f"registration-sent-{lang}")

    mail = sink.wait(to=email, timeout=10)[0]
    found = CONFIRM_RE.search(body(mail))
    assert found, body(mail)
    page.goto(found.group(0))
    audit(page, f"registration-confirm-{lang}")
    page.locator("form.form button[type=submit]").click()
    expect(page.locator("h1")).to_have_text(
        "Demande confirmée" if lang == "fr" else "Request confirmed"
    )
    audit(page, f"registration-waiting-{lang}")

    # The help desk approves it from the queue.
    sign_in_to_console(
        page, features_stack, "/admin/registrations", **({"words": ENGLISH} if lang == "en" else {})
    )
    page.goto(f"{cas}/admin/registrations")
    audit(page, f"console-registrations-{lang}")
    shoot(page, f"console-registrations-{lang}")
    page.locator("a", has_text=f"Élise {family}").click()
    audit(page, f"console-registration-{lang}")
    page.check("#confirm")
    page.locator("form[action$='/approve'] button[type=submit]").click()
    expect(page.locator(".admin-flash")).to_be_visible()

    welcome = sink.wait(2, to=email, timeout=10)[1]
    login = f"elise.martin-{lang}"
    assert login in body(welcome)
    page.goto(f"{cas}/logout")
    page.goto(f"{cas}/login?lang={lang}&renew=true")
    sign_in(page, login, PASSWORD, **({"words": ENGLISH} if lang == "en" else {}))
    expect(page.locator("h1")).to_have_text(
        "Connexion réussie" if lang == "fr" else "Login successful"
    )
