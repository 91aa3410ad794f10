"""The help request's pages in Chromium (#16): the public form, its errors and its
answer, the console's queue and one request; axe-core on each, French and English.

On ``features_stack`` (the session's other stacks keep ``[help_requests]`` off).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.browser import ENGLISH, FRENCH, Audit, Shoot, Stack, expect, sign_in_to_console
from tests.support.captcha_solver import answer_in

pytestmark = pytest.mark.browser


def _fill(page: Any, stack: Stack) -> None:
    """The form as a parent fills it, with the accessible CAPTCHA question."""
    page.goto(f"{stack.cas}/sesame/help-request?captcha=question")
    page.fill("#requester_name", "Nadia Benali")
    page.fill("#child_name", "Inès Benali")
    page.fill("#school", "Collège Jean Moulin")
    page.fill("#contact_email", "nadia@parents.example.org")
    page.check("#case-forgot_address")
    page.fill("#text", "<b>Je ne sais plus</b> quelle adresse j'ai donnée.")
    answer = answer_in(page.content())
    assert answer is not None
    page.fill("#captcha_answer", answer)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_parent_sends_a_request_and_the_help_desk_reads_it(
    page: Any, features_stack: Stack, audit: Audit, shoot: Shoot, lang: str
) -> None:
    page.goto(f"{features_stack.cas}/login?lang={lang}")
    link = "Problème de connexion ?" if lang == "fr" else "Problem signing in?"
    page.get_by_role("link", name=link).click()
    expect(page.locator("h1")).to_have_text(link)
    audit(page, f"help-request-form-{lang}")
    shoot(page, f"help-request-form-{lang}")

    # Sent empty (the browser's own checks off): the error summary, then the form again.
    page.evaluate("() => document.querySelector('form.form').noValidate = true")
    page.locator("button[type=submit]").click()
    expect(page.locator(".error-summary")).to_be_visible()
    audit(page, f"help-request-errors-{lang}")

    _fill(page, features_stack)
    page.locator("button[type=submit]").click()
    expect(page.locator(".help-reference")).to_have_text(re.compile(r"HR-[A-Z0-9]{6}"))
    reference = page.locator(".help-reference").inner_text()
    audit(page, f"help-request-sent-{lang}")

    sign_in_to_console(
        page, features_stack, "/admin/help-requests", ENGLISH if lang == "en" else FRENCH
    )
    page.goto(f"{features_stack.cas}/admin/help-requests")
    page.get_by_role("link", name=reference).click()
    expect(page.locator("h1")).to_contain_text(reference)
    # The free text is text, not markup.
    expect(page.locator(".admin-message")).to_contain_text("<b>Je ne sais plus</b>")
    audit(page, f"console-help-request-{lang}")
    shoot(page, f"console-help-request-{lang}")
    page.goto(f"{features_stack.cas}/admin/help-requests")
    audit(page, f"console-help-requests-{lang}")
