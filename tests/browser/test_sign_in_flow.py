"""The steps between the password and the service, in Chromium: the charter,
the forced password change with its live checklist, the lockout, and the
public / private computer choice, in French and in English.

They run against ``flow_stack``: the example charters (``config/charters``)
and the UPHF policy (12 to 30 characters, four classes, no space, not the
login, not one of the last 3). Accounts are prepared with the ``cas-server``
command or with the app's own objects (``flow_app``) on the same database.
Every new page is audited with axe-core and photographed into screenshots/.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from cas_server.accounts.model import Profile
from cas_server.auth import Success
from cas_server.storage.sql.models import AuditEventRow
from tests.support.browser import (
    ENGLISH,
    Audit,
    Shoot,
    Stack,
    accept_charter,
    add_account,
    expect,
    login_url,
    sign_in,
)
from tests.support.cli import cli_runner

pytestmark = pytest.mark.browser

GENERAL_FR = "Charte informatique de l'établissement"
PARENTS_EN = "Acceptable use policy for parents"
# The UPHF rules the script checks as the user types, and those only the server knows.
CLIENT_RULES = (
    "min_length",
    "max_length",
    "class_lower",
    "class_upper",
    "class_digit",
    "class_special",
    "forbidden_characters",
    "not_login",
)
SERVER_RULES = ("blocklist", "history")


def expect_on_the_ent(page: Any, stack: Stack, login: str) -> None:
    expect(page).to_have_url(stack.service("ent"))
    expect(page.locator("body")).to_contain_text(f"Connecté en tant que {login}.")


def tgc(page: Any) -> str | None:
    return next((c["value"] for c in page.context.cookies() if c["name"] == "TGC"), None)


def focused(page: Any) -> str:
    """A short name for the focused element: tag#id[type], or tag.class for the rest."""
    return str(
        page.evaluate(
            """() => {
                const e = document.activeElement;
                if (!e || e === document.body) return "body";
                let d = e.tagName.toLowerCase();
                if (e.id) d += "#" + e.id;
                else if (e.classList.length) d += "." + e.classList[0];
                if (e.type) d += "[" + e.type + "]";
                return d;
            }"""
        )
    )


def tab_to(page: Any, target: str, limit: int = 25) -> list[str]:
    """Press Tab until ``target`` (as :func:`focused` names it) has the focus."""
    stops = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        stops.append(focused(page))
        if stops[-1] == target:
            return stops
    raise AssertionError(f"Tab never reached {target}: {stops}")


def cas_server_cli(app: Any, command: str, stdin: str) -> None:
    """``cas-server COMMAND`` (the same click commands), in this process on the stack's app."""
    result = cli_runner(app).invoke(args=command.split(), input=stdin)
    assert result.exit_code == 0, result.output


def audit_trail(app: Any, login: str) -> list[tuple[str, str, dict[str, Any]]]:
    with app.extensions["cas"].engine.connect() as conn:
        rows = conn.execute(
            select(AuditEventRow.action, AuditEventRow.outcome, AuditEventRow.details)
            .where(AuditEventRow.login == login)
            .order_by(AuditEventRow.id)
        )
        return [(action, outcome, details or {}) for action, outcome, details in rows]


def rule_states(page: Any) -> dict[str, str]:
    """Each checklist item: "met", "broken" or "" (not judged yet)."""
    return dict(
        page.evaluate(
            """() => Array.from(document.querySelectorAll("li[data-rule]")).map((li) => [
                li.dataset.rule,
                li.classList.contains("is-met") ? "met"
                    : li.classList.contains("is-broken") ? "broken" : "",
            ])"""
        )
    )


# --- charter ------------------------------------------------------------------------


def test_charter_is_read_and_accepted_once_on_the_way_to_the_ent(
    page: Any, flow_stack: Stack, flow_app: Any, audit: Audit, shoot: Shoot
) -> None:
    page.goto(login_url(flow_stack, "ent"))
    sign_in(page, "etudiant", "Etudiant-2026!")

    # No session yet: the charter comes first.
    expect(page).to_have_url(flow_stack.cas + "/login/charter")
    assert tgc(page) is None
    expect(page).to_have_title(re.compile("^" + re.escape(GENERAL_FR) + " – "))
    expect(page.get_by_role("heading", level=1)).to_have_text(GENERAL_FR)
    expect(page.locator("main")).to_contain_text(
        "Avant de continuer, veuillez lire et accepter la charte (version 2026-09)."
    )
    text = page.get_by_role("region", name=GENERAL_FR)
    expect(text).to_contain_text("Vos identifiants sont personnels et confidentiels")
    refuse = page.get_by_role("button", name="Je refuse")
    expect(refuse).to_have_accessible_description(
        "Si vous refusez, vous êtes déconnecté et ne pouvez pas utiliser les services."
    )
    shoot(page, "charter-fr")
    audit(page, "charter-fr")

    # The text scrolls in its own region: the keyboard reaches it before the
    # buttons, and the arrow keys scroll it (on a phone it is taller than the box).
    page.set_viewport_size({"width": 390, "height": 844})
    stops = tab_to(page, "section.charter-text")
    assert not [s for s in stops if s.startswith("button")], stops
    scrollable = text.evaluate("(e) => e.scrollHeight > e.clientHeight")
    assert scrollable, "the charter fits its box: nothing to scroll"
    page.keyboard.press("ArrowDown")
    page.wait_for_function("() => document.querySelector('.charter-text').scrollTop > 0")
    page.keyboard.press("End")
    page.wait_for_function(
        "() => { const e = document.querySelector('.charter-text');"
        " return e.scrollTop + e.clientHeight >= e.scrollHeight - 1; }"
    )
    expect(text).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="J'accepte la charte")).to_be_focused()
    page.keyboard.press("Enter")

    expect_on_the_ent(page, flow_stack, "etudiant")
    assert tgc(page) is not None
    actions = [(a, o) for a, o, _ in audit_trail(flow_app, "etudiant")]
    assert ("charter_accept", "success") in actions

    # Signed out, then in again: the accepted version is not asked again.
    page.goto(flow_stack.cas + "/logout")
    expect(page.get_by_role("heading", level=1)).to_have_text("Déconnexion réussie")
    visited: list[str] = []
    page.on("framenavigated", lambda frame: visited.append(frame.url))
    page.goto(login_url(flow_stack, "ent"))
    sign_in(page, "etudiant", "Etudiant-2026!")
    expect_on_the_ent(page, flow_stack, "etudiant")
    assert not [url for url in visited if "/login/charter" in url], visited


def test_refusing_the_charter_signs_out_with_an_explanation(
    page: Any, flow_stack: Stack, flow_app: Any, audit: Audit, shoot: Shoot
) -> None:
    page.goto(login_url(flow_stack, "ent"))
    sign_in(page, "enseignant", "Enseignant-2026!")
    expect(page).to_have_url(flow_stack.cas + "/login/charter")

    with page.expect_response(
        lambda r: r.url.endswith("/login/charter") and r.request.method == "POST"
    ) as answer:
        page.get_by_role("button", name="Je refuse").click()
    assert answer.value.status == 403
    expect(page).to_have_title(re.compile("^Charte refusée – "))
    expect(page.get_by_role("heading", level=1)).to_have_text("Charte refusée")
    expect(page.get_by_role("status")).to_contain_text(
        "Vous avez refusé la charte : vous avez donc été déconnecté."
    )
    assert tgc(page) is None
    shoot(page, "charter-refused")
    audit(page, "charter-refused")
    actions = [(a, o) for a, o, _ in audit_trail(flow_app, "enseignant")]
    assert ("charter_refuse", "refused") in actions
    assert ("login", "success") not in actions

    # No session: the sign-in page shows the form, and nothing is pending any more.
    page.get_by_role("link", name="Retour à la page de connexion").click()
    expect(page).to_have_url(flow_stack.cas + "/login")
    expect(page.get_by_label("Identifiant", exact=True)).to_be_visible()
    response = page.goto(flow_stack.cas + "/login/charter")
    assert response is not None and response.status == 400


# --- forced password change ----------------------------------------------------------


def test_forced_password_change_with_the_live_checklist(
    page: Any, flow_stack: Stack, flow_app: Any, audit: Audit, shoot: Shoot
) -> None:
    # As an administrator does it: an account, then a password to change at first sign-in.
    cas_server_cli(
        flow_app,
        "users add lmoreau --password-stdin --profile staff --given-name Léa --family-name Moreau",
        stdin="Premier-Secret-26!\n",
    )
    cas_server_cli(
        flow_app,
        "users set-password lmoreau --password-stdin --must-change",
        stdin="Provisoire-Secret-26!\n",
    )
    accept_charter(flow_app, "lmoreau")

    page.goto(login_url(flow_stack, "ent"))
    sign_in(page, "lmoreau", "Provisoire-Secret-26!")
    expect(page).to_have_url(flow_stack.cas + "/login/password")
    assert tgc(page) is None
    expect(page.get_by_role("heading", level=1)).to_have_text("Choisir un nouveau mot de passe")
    expect(page.locator("main")).to_contain_text(
        "C'est votre première connexion : veuillez choisir votre propre mot de passe."
    )
    new = page.get_by_label("Nouveau mot de passe", exact=True)
    confirm = page.get_by_label("Confirmation du nouveau mot de passe", exact=True)
    rules = page.locator("li[data-rule]")
    expect(rules).to_have_count(len(CLIENT_RULES) + len(SERVER_RULES))
    assert set(rule_states(page).values()) == {""}  # nothing judged before typing

    # Too short, lowercase only: half the rules are met, each one says which.
    new.press_sequentially("motdepasse")
    expect(page.locator('li[data-rule="min_length"]')).to_have_class(re.compile(r"\bis-broken\b"))
    assert rule_states(page) == {
        "min_length": "broken",
        "max_length": "met",
        "class_lower": "met",
        "class_upper": "broken",
        "class_digit": "broken",
        "class_special": "broken",
        "forbidden_characters": "met",
        "not_login": "met",
        "blocklist": "",
        "history": "",
    }
    # Screen readers get each state in words, and the count (the marks are decoration).
    expect(page.locator('li[data-rule="min_length"]')).to_have_text(
        re.compile(r"^\s*Au moins 12 caractères\s+\(règle non respectée\)\s*$")
    )
    expect(page.locator('li[data-rule="class_lower"]')).to_have_text(
        re.compile(r"\(règle respectée\)\s*$")
    )
    summary = page.locator("[data-policy-summary]")
    expect(summary).to_have_attribute("aria-live", "polite")
    expect(summary).to_have_text("Règles respectées : 4 sur 8")
    shoot(page, "change-password-checklist")
    audit(page, "change-password-checklist")

    # The login inside, then a space: those rules break as they are typed.
    new.press_sequentially(" lmoreau")
    expect(page.locator('li[data-rule="not_login"]')).to_have_class(re.compile(r"\bis-broken\b"))
    assert rule_states(page)["forbidden_characters"] == "broken"

    # The current password passes every rule the script knows; the history is the server's.
    new.fill("")
    new.press_sequentially("Provisoire-Secret-26!")
    expect(page.locator('li[data-rule="min_length"]')).to_have_class(re.compile(r"\bis-met\b"))
    states = rule_states(page)
    assert {states[r] for r in CLIENT_RULES} == {"met"}, states
    assert {states[r] for r in SERVER_RULES} == {""}, states
    confirm.fill("Provisoire-Secret-26!")
    page.get_by_role("button", name="Changer mon mot de passe").click()

    expect(page).to_have_title(re.compile("^Erreur : Choisir un nouveau mot de passe – "))
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Le mot de passe n'a pas été accepté")
    expect(alert).to_contain_text("Doit être différent de vos 3 derniers mots de passe")
    history = page.locator('li[data-rule="history"]')
    expect(history).to_have_class(re.compile(r"\bis-broken\b"))  # the server's verdict
    expect(history).to_have_text(re.compile(r"\(règle non respectée\)\s*$"))
    for field in (new, confirm):
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(field).to_have_accessible_description(
            re.compile("Doit être différent de vos 3 derniers mots de passe")
        )
    assert tgc(page) is None
    shoot(page, "change-password-errors")
    audit(page, "change-password-errors")

    new.fill("Nouveau-Secret-2026!")
    # That verdict was about the refused password: typing another one clears it.
    expect(history).not_to_have_class(re.compile(r"\bis-broken\b"))
    expect(summary).to_have_text("Règles respectées : 8 sur 8")
    confirm.fill("Nouveau-Secret-2026!")
    page.get_by_role("button", name="Changer mon mot de passe").click()
    expect_on_the_ent(page, flow_stack, "lmoreau")
    c = flow_app.extensions["cas"]
    assert isinstance(c.user_source.authenticate("lmoreau", "Nouveau-Secret-2026!"), Success)
    assert c.accounts.find_by_login("lmoreau").must_change_password is False


# --- lockout ---------------------------------------------------------------------------


def test_five_failures_lock_the_login_even_for_the_right_password(
    page: Any, flow_stack: Stack, flow_app: Any, audit: Audit, shoot: Shoot
) -> None:
    add_account(flow_app, "verrou", "Verrouille-2026!")
    page.goto(login_url(flow_stack, "ent"))
    alert = page.get_by_role("alert")
    for attempt in range(1, 6):
        with page.expect_response(
            lambda r: r.url.startswith(flow_stack.cas + "/login") and r.request.method == "POST"
        ) as answer:
            sign_in(page, "verrou", f"mauvais-{attempt}")
        if attempt < 5:
            assert answer.value.status == 401
            expect(alert).to_contain_text("Identifiant ou mot de passe incorrect.")
    assert answer.value.status == 429
    locked = re.compile(
        r"Trop de tentatives infructueuses\. Pour votre sécurité, "
        r"la connexion est suspendue jusqu'au \d{1,2} \S+ \d{4} à \d{1,2} h \d{2}\."
    )
    expect(alert).to_contain_text(locked)
    expect(page).to_have_title(re.compile("^Erreur : Connexion – "))
    expect(page.get_by_label("Identifiant", exact=True)).to_have_value("verrou")
    shoot(page, "login-locked")
    audit(page, "login-locked")

    # The right password is refused too while the lock lasts.
    with page.expect_response(
        lambda r: r.url.startswith(flow_stack.cas + "/login") and r.request.method == "POST"
    ) as answer:
        sign_in(page, "verrou", "Verrouille-2026!")
    assert answer.value.status == 429
    expect(alert).to_contain_text(locked)
    assert tgc(page) is None
    actions = [(a, o) for a, o, _ in audit_trail(flow_app, "verrou")]
    assert ("login_lock", "locked") in actions and ("login", "throttled") in actions


# --- public or private computer ----------------------------------------------------------


def test_private_computer_chosen_with_the_keyboard_keeps_the_session_three_hours(
    page: Any, flow_stack: Stack, flow_app: Any
) -> None:
    add_account(flow_app, "poste", "Poste-Prive-2026!")
    page.goto(login_url(flow_stack, "ent"))
    expect(page.get_by_label("Identifiant", exact=True)).to_be_focused()
    group = page.get_by_role("group", name="Sécurité")
    public = group.get_by_role("radio", name="Ordinateur public")
    private = group.get_by_role("radio", name="Ordinateur privé")
    expect(public).to_be_checked()  # the safe default
    expect(private).to_have_accessible_description(re.compile("restez connecté 3 heures"))

    page.keyboard.type("poste")
    page.keyboard.press("Tab")
    page.keyboard.type("Poste-Prive-2026!")
    page.keyboard.press("Tab")  # into the radio group, on its checked radio
    expect(public).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(private).to_be_focused()
    expect(private).to_be_checked()
    expect(public).not_to_be_checked()
    stops = tab_to(page, "button.button[submit]")
    assert stops == ["input#warn[checkbox]", "button.button[submit]"], stops
    page.keyboard.press("Enter")
    expect_on_the_ent(page, flow_stack, "poste")

    cookie = next(c for c in page.context.cookies() if c["name"] == "TGC")
    assert cookie["expires"] == -1  # a browser-session cookie: no remember-me
    session = flow_app.extensions["cas"].login.current_session(cookie["value"])
    assert session is not None
    assert session.idle_timeout == 3 * 3600
    logins = [d for a, o, d in audit_trail(flow_app, "poste") if (a, o) == ("login", "success")]
    assert logins == [{"computer": "private", "remember": False}]


# --- in English ----------------------------------------------------------------------------


def test_charter_and_password_change_in_english(
    page: Any, flow_stack: Stack, flow_app: Any, audit: Audit, shoot: Shoot
) -> None:
    add_account(
        flow_app,
        "famille",
        "Famille-Ancien-2026!",
        profile=Profile.PARENT,
        charter_accepted=False,
        must_change=True,
    )
    page.goto(login_url(flow_stack, "ent"))
    page.get_by_role("navigation", name="Langue").get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    sign_in(page, "famille", "Famille-Ancien-2026!", ENGLISH)

    expect(page).to_have_url(flow_stack.cas + "/login/charter")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text(PARENTS_EN)  # parents' own
    expect(page.locator("main")).to_contain_text(
        "Before you continue, please read and accept the charter (version 2026-09)."
    )
    expect(page.get_by_role("region", name=PARENTS_EN)).to_contain_text(
        "Do not give your credentials to your children."
    )
    expect(page.get_by_role("button", name="I refuse")).to_be_visible()
    shoot(page, "charter-en")
    audit(page, "charter-en")
    page.get_by_role("button", name="I accept the charter").click()

    expect(page).to_have_url(flow_stack.cas + "/login/password")
    expect(page).to_have_title(re.compile("^Choose a new password – "))
    expect(page.locator("main")).to_contain_text(
        "This is your first sign-in: please choose your own password."
    )
    expect(page.locator('li[data-rule="min_length"]')).to_have_text(
        re.compile("At least 12 characters")
    )
    new = page.get_by_label("New password", exact=True)
    new.press_sequentially("Maison")
    expect(page.locator('li[data-rule="class_upper"]')).to_have_class(re.compile(r"\bis-met\b"))
    assert rule_states(page)["min_length"] == "broken"
    expect(page.locator('li[data-rule="min_length"]')).to_have_text(
        re.compile(r"\(rule not met\)\s*$")
    )
    expect(page.locator("[data-policy-summary]")).to_have_text("Rules met: 5 of 8")
    shoot(page, "change-password-en")
    audit(page, "change-password-en")
    new.press_sequentially("-Bleue-2026!")
    page.get_by_label("Confirm the new password", exact=True).fill("Maison-Bleue-2026!")
    page.get_by_role("button", name="Change my password").click()
    expect_on_the_ent(page, flow_stack, "famille")
