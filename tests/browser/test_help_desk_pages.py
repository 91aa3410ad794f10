"""The help desk's new console pages in Chromium (#15): the session explorer (search, end
one with a reason), "check an account", impersonation and the banner it puts on every
page; axe-core on each, French and English.

On ``features_stack`` (the session's other stacks keep ``[sessions] impersonation`` off).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.browser import (
    ADMIN,
    Audit,
    Shoot,
    Stack,
    add_account,
    expect,
    sign_in,
    sign_in_to_console,
)

pytestmark = pytest.mark.browser

PERSON = ("aide.test", "Aide-Connexion-2026!")


@pytest.fixture(scope="module")
def desk_app(features_stack: Stack) -> Any:
    from cas_server import create_app

    app = create_app(features_stack.config, environ={})
    add_account(app, *PERSON, charter_accepted=False)
    c = app.extensions["cas"]
    admin = c.accounts.find_by_login(ADMIN[0])
    c.accounts.set_roles(admin.uuid, frozenset({"admin", "impersonate"}))
    return app


def test_the_help_desk_pages(
    browser: Any, features_stack: Stack, desk_app: Any, audit: Audit, shoot: Shoot
) -> None:
    elsewhere = browser.new_context(bypass_csp=True, locale="fr-FR")
    try:
        person = elsewhere.new_page()
        person.goto(features_stack.cas + "/login")
        sign_in(person, *PERSON)
        expect(person.locator("h1")).to_be_visible()
    finally:
        elsewhere.close()

    page = browser.new_context(bypass_csp=True, locale="fr-FR").new_page()
    sign_in_to_console(page, features_stack, "/admin/sessions")
    expect(page).to_have_url(features_stack.cas + "/admin/sessions")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sessions SSO ouvertes")
    audit(page, "admin-sessions")

    page.fill("#login", PERSON[0])
    page.locator(".admin-filters button[type=submit]").click()
    expect(page.get_by_role("heading", level=2)).to_have_text("1 session trouvée")
    audit(page, "admin-sessions-search")
    shoot(page, "admin-sessions-search")

    page.get_by_role("link", name=re.compile("^Fermer cette session")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fermer une session SSO")
    page.locator("button[type=submit]").click()  # no reason: the error summary
    expect(page.locator(".error-summary")).to_be_visible()
    audit(page, "admin-session-end-errors")
    page.fill("#reason", "Ordinateur de la bibliothèque resté connecté")
    page.check("#confirm")
    page.locator("button[type=submit]").click()
    expect(page.locator(".admin-flash")).to_contain_text("1 session SSO fermée")

    page.goto(features_stack.cas + f"/admin/check?login={PERSON[0]}&service=anything-local")
    expect(page.get_by_role("heading", level=2)).to_contain_text("peut se connecter à Local")
    audit(page, "admin-check")
    page.goto(features_stack.cas + f"/admin/check?login={PERSON[0]}&service=anything-local&lang=en")
    expect(page.get_by_role("heading", level=2)).to_contain_text("can sign in to Local")
    audit(page, "admin-check-en")
    shoot(page, "admin-check-en")

    page.goto(features_stack.cas + "/admin/impersonate")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in as someone")
    audit(page, "admin-impersonate-en")
    page.fill("#login", PERSON[0])
    page.fill("#reason", "Ticket 4521")
    page.check("#confirm")
    page.get_by_role("button", name="Sign in as this person").click()
    banner = page.get_by_role("complementary", name="Impersonation")
    expect(banner).to_contain_text(f"admin is acting as {PERSON[0]}")
    audit(page, "impersonation-banner-en")
    shoot(page, "impersonation-banner-en")
    page.goto(features_stack.cas + "/login?lang=fr")
    expect(page.locator(".impersonation-banner")).to_contain_text(
        f"admin agit à la place de {PERSON[0]}"
    )
    audit(page, "impersonation-banner-fr")
    page.locator(".impersonation-banner__end").click()
    expect(page.locator(".impersonation-banner")).to_have_count(0)
