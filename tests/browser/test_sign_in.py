"""Signing in as a person does: Chromium, the real login page, the demo ENT and Moodle.

Every page the tests visit is audited with axe-core and photographed
(phone and desktop) into screenshots/.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.browser import Audit, Shoot, Stack, expect, login_url, sign_in

pytestmark = pytest.mark.browser

STUDENT = ("etudiant", "Etudiant-2026!")
TEACHER = ("enseignant", "Enseignant-2026!")
THEME_COLOURS = {  # the primary button's background in each theme
    "default": "rgb(29, 79, 145)",
    "univ-exemple": "rgb(0, 86, 107)",
    "college-exemple": "rgb(107, 47, 179)",
}


def focused(page: Any) -> str:
    """A short name for the focused element: tag#id[type] or tag "text"."""
    return str(
        page.evaluate(
            """() => {
                const e = document.activeElement;
                if (!e || e === document.body) return "body";
                let d = e.tagName.toLowerCase();
                if (e.id) d += "#" + e.id;
                if (e.type) d += "[" + e.type + "]";
                if (e.tagName === "A") d += ' "' + e.textContent.trim() + '"';
                return d;
            }"""
        )
    )


def test_sign_in_single_sign_on_and_logout(
    page: Any, stack: Stack, audit: Audit, shoot: Shoot
) -> None:
    # The ENT sends the browser to the login page.
    page.goto(stack.service("ent"))
    expect(page).to_have_url(re.compile(re.escape(stack.cas) + r"/login\?service="))
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page).to_have_title(re.compile("^Connexion – "))
    expect(page.get_by_role("heading", level=1)).to_have_text("Service Central d'Authentification")
    expect(page.get_by_text("Vous allez être connecté à ENT de démonstration.")).to_be_visible()
    expect(page.get_by_label("Identifiant", exact=True)).to_be_focused()
    shoot(page, "login-fr")
    audit(page, "login-fr")

    sign_in(page, *STUDENT)
    expect(page).to_have_url(stack.service("ent"))
    expect(page.locator("body")).to_contain_text("Connecté en tant que etudiant.")
    expect(page.locator("body")).to_contain_text("camille.martin@etu.univ-demo.fr")

    # Single sign-on: the Moodle gets a ticket without a login page being shown.
    shown: list[str] = []
    page.on("framenavigated", lambda frame: shown.append(frame.url))
    page.get_by_role("link", name="Aller sur Moodle de démonstration").click()
    expect(page).to_have_url(stack.service("moodle"))
    expect(page.locator("body")).to_contain_text("Connecté en tant que etudiant.")
    assert not [url for url in shown if url.startswith(stack.cas)], shown

    # The CAS itself says who is signed in.
    page.goto(login_url(stack))
    expect(page.get_by_role("heading", level=1)).to_have_text("Connexion réussie")
    expect(page.locator("main")).to_contain_text(
        "Vous êtes connecté en tant que Camille Martin (etudiant)."
    )
    shoot(page, "logged-in")
    audit(page, "logged-in")

    page.get_by_role("link", name="Se déconnecter").click()
    expect(page).to_have_url(stack.cas + "/logout")
    expect(page.get_by_role("heading", level=1)).to_have_text("Déconnexion réussie")
    expect(page.locator("main")).to_contain_text(
        "Si vous utilisez un ordinateur public ou partagé, fermez votre navigateur"
    )
    # The Moodle asked for front-channel logout: a hidden frame tells it.
    expect(page.locator("main")).to_contain_text("Vous êtes aussi déconnecté de ces applications")
    expect(page.get_by_role("listitem").filter(has_text="Moodle de démonstration")).to_be_visible()
    frames = page.locator("iframe.js-front-channel-logout")
    expect(frames).to_have_count(1)
    expect(frames).to_be_hidden()
    shoot(page, "logout")
    audit(page, "logout")

    # Back-channel single logout reached the ENT, front channel the Moodle:
    # both ask for a login again.
    for service in ("ent", "moodle"):
        deadline = time.monotonic() + 5
        while True:
            page.goto(stack.service(service))
            if page.url.startswith(stack.cas + "/login"):
                break
            assert time.monotonic() < deadline, f"the {service} kept its session after logout"
            time.sleep(0.2)
        expect(page.get_by_label("Identifiant", exact=True)).to_be_visible()


def test_sign_in_under_the_servers_own_csp_reaches_the_service(browser: Any, stack: Stack) -> None:
    """No CSP bypass: the form-action of the login and charter pages allows the
    redirect back to the service (Chromium applies form-action to it)."""
    context = browser.new_context(locale="fr-FR")
    context.set_default_timeout(10_000)
    try:
        strict = context.new_page()
        refused: list[str] = []
        strict.on(
            "console", lambda m: refused.append(m.text) if "Content Security" in m.text else None
        )
        ent = stack.service("ent")
        strict.goto(ent)
        sign_in(strict, *TEACHER)
        if "/login/charter" in strict.url:
            strict.get_by_role("button", name=re.compile("accepte", re.I)).click()
        expect(strict).to_have_url(ent)
        expect(strict.locator("body")).to_contain_text("enseignant")
        assert refused == []
    finally:
        context.close()


def test_front_channel_logout_goes_back_to_the_service(
    browser: Any, page: Any, stack: Stack, audit: Audit, shoot: Shoot
) -> None:
    """/logout?service= from the Moodle (front channel): the page, then the Moodle again."""
    moodle = stack.service("moodle")
    logout = stack.cas + "/logout?service=" + quote(moodle, safe="")
    back_at_login = re.compile(re.escape(stack.cas) + r"/login\?service=")

    # With the server's own CSP (no bypass): the frame is allowed, and the
    # script goes on to the Moodle once it has loaded; the Moodle has ended
    # its session, so it sends the browser to the login page. (The sign-in
    # under the real CSP has its own test above.)
    page.goto(moodle)
    sign_in(page, *STUDENT)
    expect(page).to_have_url(moodle)
    context = browser.new_context(locale="fr-FR")
    context.set_default_timeout(10_000)
    try:
        context.add_cookies(page.context.cookies())
        strict = context.new_page()
        refused: list[str] = []
        strict.on(
            "console", lambda m: refused.append(m.text) if "Content Security" in m.text else None
        )
        strict.goto(moodle)
        expect(strict.locator("body")).to_contain_text("Connecté en tant que etudiant.")
        strict.get_by_role("link", name="Se déconnecter").click()
        # logout-continue.js goes on once the frames have loaded, or after 5 s at the
        # latest: more than expect's own 5 s, so wait for the script's deadline.
        expect(strict).to_have_url(back_at_login, timeout=15_000)
        expect(strict.get_by_label("Identifiant", exact=True)).to_be_visible()
        assert refused == []
    finally:
        context.close()

    # Without the continuation script (blocked here), the page waits for the user.
    page.route("**/js/logout-continue.js", lambda route: route.abort())
    page.goto(moodle)
    expect(page).to_have_url(back_at_login)
    sign_in(page, *STUDENT)
    expect(page).to_have_url(moodle)
    page.get_by_role("link", name="Se déconnecter").click()
    expect(page).to_have_url(logout)
    expect(page.get_by_role("heading", level=1)).to_have_text("Déconnexion réussie")
    expect(page.locator("iframe.js-front-channel-logout")).to_have_count(1)
    shoot(page, "logout-front-channel")
    audit(page, "logout-front-channel")
    page.get_by_role("link", name="Continuer vers l'application").click()
    expect(page).to_have_url(back_at_login)


def test_language_switch_is_remembered(page: Any, stack: Stack, audit: Audit, shoot: Shoot) -> None:
    page.goto(login_url(stack, "ent"))
    switcher = page.get_by_role("navigation", name="Langue")
    expect(switcher.get_by_role("link", name="Français")).to_have_attribute("aria-current", "true")
    switcher.get_by_role("link", name="English").click()

    html = page.locator("html")
    expect(html).to_have_attribute("lang", "en")
    expect(page.get_by_label("Username", exact=True)).to_be_visible()
    expect(page.get_by_label("Password", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    english = page.get_by_role("navigation", name="Language")
    expect(english.get_by_role("link", name="English")).to_have_attribute("aria-current", "true")
    # The service is kept across the switch.
    expect(page.get_by_text("You are about to sign in to ENT de démonstration.")).to_be_visible()
    shoot(page, "login-en")
    audit(page, "login-en")

    # The choice lives in a cookie: a plain reload and a new URL stay in English.
    page.goto(login_url(stack))
    expect(html).to_have_attribute("lang", "en")
    page.reload()
    expect(html).to_have_attribute("lang", "en")
    assert any(c["name"] == "lang" and c["value"] == "en" for c in page.context.cookies())

    english.get_by_role("link", name="Français").click()
    expect(html).to_have_attribute("lang", "fr")
    page.goto(login_url(stack))
    expect(html).to_have_attribute("lang", "fr")
    expect(page.get_by_label("Identifiant", exact=True)).to_be_visible()


def test_wrong_password_is_announced_and_fields_marked(
    page: Any, stack: Stack, audit: Audit, shoot: Shoot
) -> None:
    page.goto(login_url(stack, "ent"))
    sign_in(page, "etudiant", "not-the-password")

    expect(page).to_have_title(re.compile("^Erreur : Connexion – "))
    alert = page.get_by_role("alert")
    expect(alert).to_have_accessible_name("Un problème est survenu")
    expect(alert).to_contain_text("Identifiant ou mot de passe incorrect.")
    username = page.get_by_label("Identifiant", exact=True)
    password = page.get_by_label("Mot de passe", exact=True)
    for field in (username, password):
        expect(field).to_have_attribute("aria-invalid", "true")
        # The message goes on with what to do if the account is locked (issue 11, item 8).
        expect(field).to_have_accessible_description(
            re.compile(r"^Identifiant ou mot de passe incorrect\. .*Mot de passe oublié")
        )
    # The login is kept, the password is not, and focus is where the user retypes.
    expect(username).to_have_value("etudiant")
    expect(password).to_have_value("")
    expect(password).to_be_focused()
    shoot(page, "login-error")
    audit(page, "login-error")

    # The summary's link leads to the field.
    alert.get_by_role("link").click()
    expect(username).to_be_focused()

    # Then the right password still works from this page.
    password.fill(STUDENT[1])
    page.get_by_role("button", name="Se connecter").click()
    expect(page).to_have_url(stack.service("ent"))


def test_unauthorized_service_page(page: Any, stack: Stack, audit: Audit, shoot: Shoot) -> None:
    response = page.goto(stack.cas + "/login?service=" + quote("https://evil.example/", safe=""))
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Application non autorisée")
    expect(page.get_by_role("alert")).to_contain_text("n'est pas autorisée")
    expect(page.locator("code.service-url")).to_have_text("https://evil.example/")
    expect(page.get_by_label("Identifiant", exact=True)).to_have_count(0)
    shoot(page, "service-unauthorized")
    audit(page, "service-unauthorized")


def test_not_found_page(page: Any, stack: Stack, audit: Audit, shoot: Shoot) -> None:
    response = page.goto(stack.cas + "/no-such-page")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page introuvable")
    expect(page.get_by_role("link", name="Retour à la page de connexion")).to_be_visible()
    shoot(page, "error-404")
    audit(page, "error-404")


def test_keyboard_only_sign_in(page: Any, stack: Stack) -> None:
    page.goto(login_url(stack, "moodle"))
    expect(page.get_by_label("Identifiant", exact=True)).to_be_focused()  # autofocus

    # From the top of the page: the skip link comes first, then the form in order.
    page.keyboard.press("Shift+Tab")
    stops = [focused(page)]
    for _ in range(6):
        if stops[-1] == "body":
            break
        page.keyboard.press("Shift+Tab")
        stops.append(focused(page))
    before = [s for s in stops if s != "body"][::-1]
    assert before[0] == 'a "Aller au contenu principal"', before

    stops = [focused(page)]
    for _ in range(12):
        page.keyboard.press("Tab")
        stops.append(focused(page))
        if stops[-1].startswith("button"):
            break
    # In this order (login options may sit between the password and the checkbox).
    form = ["input#username[text]", "input#password[password]", "input#warn[checkbox]"]
    wanted = [*form, "button[submit]"]
    assert all(s in stops for s in wanted), stops
    positions = [stops.index(s) for s in wanted]
    assert positions == sorted(positions), stops
    assert positions[1] == positions[0] + 1, stops  # nothing between login and password

    # Type and submit with the keyboard alone: Enter in the password field.
    for _ in range(len(stops)):
        if focused(page) == form[0]:
            break
        page.keyboard.press("Shift+Tab")
    assert focused(page) == form[0]
    page.keyboard.type(TEACHER[0])
    page.keyboard.press("Tab")
    page.keyboard.type(TEACHER[1])
    page.keyboard.press("Enter")
    expect(page).to_have_url(stack.service("moodle"))
    expect(page.locator("body")).to_contain_text("Connecté en tant que enseignant.")


def test_skip_link_moves_to_the_main_content(page: Any, stack: Stack) -> None:
    page.goto(login_url(stack))
    skip = page.get_by_role("link", name="Aller au contenu principal")
    skip.focus()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main#content")).to_be_focused()


@pytest.mark.parametrize("theme", list(THEME_COLOURS))
def test_login_page_in_each_theme(
    page: Any, stack: Stack, audit: Audit, shoot: Shoot, theme: str
) -> None:
    service = "ent" if theme == "default" else theme
    page.goto(login_url(stack, service))
    chain = f"{theme}~default" if theme != "default" else "default"
    expect(page.locator('link[rel="stylesheet"]').last).to_have_attribute(
        "href", f"/themes/{chain}/static/css/theme.css"
    )
    button = page.get_by_role("button", name="Se connecter")
    expect(button).to_have_css("background-color", THEME_COLOURS[theme])
    banner = page.get_by_role("banner")
    footer = page.get_by_role("contentinfo")
    if theme == "univ-exemple":
        expect(banner).to_contain_text("Université Exemple")
        expect(banner).to_contain_text("Sésame – votre compte universitaire")
    if theme == "college-exemple":
        expect(footer.get_by_role("heading", name="Besoin d'aide ?")).to_be_visible()
        expect(footer).to_contain_text("Parents : ")
    else:
        expect(footer).not_to_contain_text("Besoin d'aide")
    shoot(page, f"login-theme-{theme}")
    audit(page, f"login-theme-{theme}")

    if theme != "default":  # the error colours of the theme
        sign_in(page, "etudiant", "not-the-password")
        expect(page.get_by_role("alert")).to_be_visible()
        shoot(page, f"login-error-theme-{theme}")
        audit(page, f"login-error-theme-{theme}")
