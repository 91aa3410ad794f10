""" "Mes connexions" in Chromium: two browser contexts (a laptop and a phone) sign in to the
same account; the laptop ends the phone's session from its page, and the phone is asked
for its password again. Every new page is audited with axe-core, in both languages.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.browser import (
    DESKTOP,
    ENGLISH,
    PHONE,
    Audit,
    Shoot,
    Stack,
    add_account,
    expect,
    login_url,
    sign_in,
)
from tests.support.sessions import IPHONE

pytestmark = pytest.mark.browser

PASSWORD = "Mes-Connexions-2026!"


@pytest.fixture(scope="module")
def stack_app(stack: Stack) -> Any:
    """The app in this process on ``stack``'s configuration and database."""
    from cas_server import create_app

    return create_app(stack.config, environ={})


def context(browser: Any, locale: str, viewport: dict[str, int], user_agent: str | None) -> Any:
    options: dict[str, Any] = {"bypass_csp": True, "locale": locale, "viewport": viewport}
    if user_agent:
        options["user_agent"] = user_agent
    made = browser.new_context(**options)
    made.set_default_timeout(10_000)
    return made


def test_end_the_phones_session_from_the_laptop(
    browser: Any, stack: Stack, stack_app: Any, audit: Audit, shoot: Shoot
) -> None:
    add_account(stack_app, "connexions.test", PASSWORD, charter_accepted=False)
    laptop = context(browser, "fr-FR", DESKTOP, None)
    phone = context(browser, "fr-FR", PHONE, IPHONE)
    try:
        on_phone = phone.new_page()
        on_phone.goto(login_url(stack, "ent"))
        sign_in(on_phone, "connexions.test", PASSWORD)
        expect(on_phone).to_have_url(re.compile("^" + re.escape(stack.service("ent"))))

        page = laptop.new_page()
        page.goto(stack.cas + "/profile/sessions")
        sign_in(page, "connexions.test", PASSWORD)
        expect(page).to_have_url(stack.cas + "/profile/sessions")
        expect(page.get_by_role("heading", level=1)).to_have_text("Mes connexions")
        cards = page.locator(".session")
        expect(cards).to_have_count(2)
        expect(cards.first).to_contain_text("Ce navigateur")
        theirs = cards.filter(has_text="iOS 17")
        expect(theirs).to_contain_text("Safari 17 sous iOS 17")
        expect(theirs).to_contain_text("ENT de démonstration")
        audit(page, "profile-sessions")
        shoot(page, "profile-sessions")

        theirs.get_by_role("button", name="Déconnecter cette session").click()
        expect(page).to_have_url(re.compile(r"/profile/sessions\?done=session_ended$"))
        expect(page.get_by_role("status")).to_contain_text("La session a été fermée")
        expect(cards).to_have_count(1)
        audit(page, "profile-sessions-ended")

        # The phone's next sign-in asks for the password again.
        on_phone.goto(login_url(stack, "ent"))
        expect(on_phone.get_by_label("Mot de passe", exact=True)).to_be_visible()
        # The laptop is still signed in.
        page.goto(stack.cas + "/profile/sessions")
        expect(page.get_by_role("heading", level=1)).to_have_text("Mes connexions")

        if page.get_by_role("link", name="Voir l'historique").count():
            page.get_by_role("link", name="Voir l'historique").click()
            expect(page.get_by_role("heading", level=1)).to_have_text(
                "Historique de mes connexions"
            )
            expect(page.get_by_role("table")).to_contain_text("Connexion")
            audit(page, "profile-sessions-history")
            shoot(page, "profile-sessions-history")
    finally:
        laptop.close()
        phone.close()


def test_the_pages_in_english_and_by_keyboard(
    browser: Any, stack: Stack, stack_app: Any, audit: Audit
) -> None:
    add_account(stack_app, "connexions.en", PASSWORD, charter_accepted=False)
    made = context(browser, "en-GB", PHONE, None)
    try:
        page = made.new_page()
        page.goto(stack.cas + "/profile/sessions?lang=en")
        sign_in(page, "connexions.en", PASSWORD, ENGLISH)
        expect(page.get_by_role("heading", level=1)).to_have_text("My sign-ins")
        audit(page, "profile-sessions-en")
        # Ending this browser's own session is a logout, reached with the keyboard only.
        button = page.get_by_role("button", name="Sign out here (this browser)")
        button.focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", level=1)).to_have_text("Logout successful")
        page.goto(stack.cas + "/profile/sessions")
        expect(page.get_by_label(ENGLISH["password"], exact=True)).to_be_visible()
    finally:
        made.close()
