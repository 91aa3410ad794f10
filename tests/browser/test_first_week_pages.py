"""Forms and pages a university found wrong in its first week (issue #12), in Chromium.

16. the error summary names each field and links to it;
18. the audit filter's date hint says the format the field takes;
19. a theme's names and colours come from one place: the header, the footer and
    the title say the same name, the focus ring is the theme's colour;
20. spacing: a gap under every card title of the password-path chooser, the
    Sésame menu on one row at 1280 px, the demo ENT without sideways scrolling
    at 390 px;
21. after a form is sent with errors, focus is on the error summary and the
    title starts with "Erreur :" / "Error:";
22. the live checklist counts the rules it shows, and says which rules are
    checked when the form is sent.

The layout is measured with the elements' boxes; every page is audited with
axe-core and photographed (phone and desktop) into screenshots/.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.browser import (
    DESKTOP,
    PHONE,
    Audit,
    Shoot,
    Stack,
    add_account,
    expect,
    login_url,
    sign_in,
)

pytestmark = pytest.mark.browser

STUDENT = ("etudiant", "Etudiant-2026!")
ADMIN = ("admin", "Admin-Demo-2026!")
THEME_BRAND = {  # --brand of each example theme (themes/*/static/css/theme.css)
    "univ-exemple": "rgb(0, 86, 107)",
    "college-exemple": "rgb(107, 47, 179)",
}
DEFAULT_FOCUS = "rgb(26, 95, 208)"  # --focus of the default theme (css/cas.css)


def active(page: Any) -> str:
    """The focused element: tag, then its id or first class ("body" for none)."""
    return str(
        page.evaluate(
            """() => {
                const e = document.activeElement;
                if (!e || e === document.body) return "body";
                return e.tagName.toLowerCase() + (e.id ? "#" + e.id
                    : e.classList.length ? "." + e.classList[0] : "");
            }"""
        )
    )


def box(locator: Any) -> dict[str, float]:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not displayed"
    return dict(found)


# --- 20. spacing -------------------------------------------------------------------------


def test_sesame_menu_is_one_row_on_a_desktop(
    page: Any, stack: Stack, audit: Audit, shoot: Shoot
) -> None:
    page.goto(stack.cas + "/sesame/password")
    items = page.locator(".sesame-nav li")
    expect(items).to_have_count(5)
    tops = {round(box(items.nth(i))["y"]) for i in range(items.count())}
    assert len(tops) == 1, f"the Sésame menu wraps at {DESKTOP['width']} px: rows at {tops}"
    shoot(page, "sesame-password-choice")
    audit(page, "sesame-password-choice")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_every_path_card_has_a_gap_under_its_title(
    page: Any, stack: Stack, viewport: dict[str, int]
) -> None:
    page.set_viewport_size(viewport)
    page.goto(stack.cas + "/sesame/password")
    cards = page.locator(".sesame-choice")
    assert cards.count() >= 2
    gaps = page.evaluate(
        """() => Array.from(document.querySelectorAll(".sesame-choice")).map((card) => {
            const title = card.querySelector(".sesame-choice__link");
            const range = document.createRange();
            range.selectNodeContents(title);
            const text = range.getBoundingClientRect();  // the words, not the link's box
            const hint = card.querySelector(".sesame-choice__hint").getBoundingClientRect();
            return [title.textContent.trim(), hint.top - text.bottom];
        })"""
    )
    tight = [(title, gap) for title, gap in gaps if gap < 4]
    assert not tight, f"no gap under these card titles at {viewport['width']} px: {tight}"


def test_demo_ent_does_not_scroll_sideways_on_a_phone(
    page: Any, stack: Stack, shoot: Shoot
) -> None:
    page.set_viewport_size(PHONE)
    page.goto(stack.service("ent"))
    sign_in(page, *STUDENT)
    expect(page).to_have_url(stack.service("ent"))
    expect(page.locator("body")).to_contain_text("Connecté en tant que etudiant.")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the demo ENT is {width} px wide at {PHONE['width']} px"
    shoot(page, "demo-ent")  # and no sideways scrolling at 320 px either


# --- 21. focus and title after a form sent with errors -------------------------------------


@pytest.mark.parametrize(
    ("lang", "prefix", "button"),
    [("fr", "Erreur : ", "Continuer"), ("en", "Error: ", "Continue")],
)
def test_a_form_sent_with_errors_focuses_its_error_summary(
    page: Any, stack: Stack, audit: Audit, shoot: Shoot, lang: str, prefix: str, button: str
) -> None:
    page.goto(f"{stack.cas}/sesame/activate?lang={lang}")
    page.locator("#identifier").fill("22009999")
    page.locator("#birth_date").fill("31/02/2006")
    page.get_by_role("button", name=button, exact=True).click()

    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(page).to_have_title(re.compile("^" + re.escape(prefix)))
    assert active(page) == "div.error-summary", active(page)
    expect(summary).to_be_focused()
    if lang == "fr":
        shoot(page, "sesame-activate-errors")
        audit(page, "sesame-activate-errors")
        expect(summary).to_be_focused()
    # From there the keyboard reaches the summary's link, which leads to the field.
    page.keyboard.press("Tab")
    link = summary.get_by_role("link").first
    expect(link).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#birth_date")).to_be_focused()


# --- 19. themes ------------------------------------------------------------------------


@pytest.mark.parametrize("theme", list(THEME_BRAND))
def test_a_theme_says_one_name_everywhere(page: Any, stack: Stack, theme: str) -> None:
    page.goto(login_url(stack, theme))
    name = page.locator(".site-header .brand__name").inner_text().strip()
    assert name, "the header names no institution"
    expect(page.get_by_role("contentinfo")).to_contain_text(name + " · ")
    expect(page).to_have_title(re.compile(" – " + re.escape(name) + "$"))


@pytest.mark.parametrize("theme", list(THEME_BRAND))
def test_the_focus_ring_is_the_themes_colour(page: Any, stack: Stack, theme: str) -> None:
    page.goto(login_url(stack, theme))
    username = page.get_by_label("Identifiant", exact=True)
    expect(username).to_be_focused()
    theme_focus = page.evaluate(
        """() => {
            const probe = document.createElement("span");
            probe.style.color = getComputedStyle(document.documentElement)
                .getPropertyValue("--focus");
            document.body.append(probe);
            const colour = getComputedStyle(probe).color;
            probe.remove();
            return colour;
        }"""
    )
    assert theme_focus != DEFAULT_FOCUS, f"{theme} keeps the default focus colour"
    ring = username.evaluate("(e) => getComputedStyle(e).outlineColor")
    assert ring == theme_focus
    # The keyboard's ring on a link too (:focus-visible).
    page.keyboard.press("Shift+Tab")
    ring = page.evaluate("() => getComputedStyle(document.activeElement).outlineColor")
    assert ring == theme_focus
    if theme == "college-exemple":
        assert theme_focus == THEME_BRAND[theme], "the school's ring is not its purple"


# --- 18. the audit filter's dates ------------------------------------------------------------


def test_the_audit_date_takes_what_its_hint_says(
    page: Any, stack: Stack, audit: Audit, shoot: Shoot
) -> None:
    page.goto(stack.cas + "/admin/audit")
    sign_in(page, *ADMIN)
    expect(page).to_have_url(re.compile(re.escape(stack.cas) + r"/admin/audit"))
    since = page.locator("#since")
    hint_ids = (since.get_attribute("aria-describedby") or "").split()
    assert hint_ids, "the date field has no hint"
    hint = " ".join(page.locator(f"#{i}").inner_text() for i in hint_ids)
    example = re.search(r"\b\d{2}/\d{2}/\d{4}\b", hint)
    assert example, f"the hint gives no day/month/year example: {hint!r}"
    # Typed as the hint shows it, key by key: the field shows exactly that.
    since.click()
    page.keyboard.type(example.group(0))
    expect(since).to_have_value(example.group(0))
    page.locator(".admin-filters button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"since=" + re.escape(quote(example.group(0), safe=""))))
    expect(page.locator(".error-summary")).to_have_count(0)
    expect(since).to_have_value(example.group(0))
    shoot(page, "admin-audit-filter")
    audit(page, "admin-audit-filter")


# --- 22. the live checklist ----------------------------------------------------------------


def test_the_checklist_counts_the_rules_it_shows(
    page: Any, flow_stack: Stack, flow_app: Any, audit: Audit, shoot: Shoot
) -> None:
    add_account(flow_app, "cdurand", "Provisoire-Secret-26!", must_change=True)
    page.goto(login_url(flow_stack))
    sign_in(page, "cdurand", "Provisoire-Secret-26!")
    expect(page).to_have_url(flow_stack.cas + "/login/password")
    page.get_by_label("Nouveau mot de passe", exact=True).press_sequentially("motdepasse")
    summary = page.locator("[data-policy-summary]")
    expect(summary).to_have_text(re.compile(r"^Règles respectées : \d+ sur \d+$"))
    met, total = (int(n) for n in re.findall(r"\d+", summary.inner_text()))
    live = page.locator("ul.policy-checklist > li")
    assert live.count() == total, f"says {met} of {total}, shows {live.count()} rules"
    assert (met, total) == (4, 8)
    # The two rules only the server knows are shown apart, as checked on sending.
    later = page.locator("#password-rules-later")
    expect(later).to_be_visible()
    expect(later).to_contain_text("Vérifiées à l'envoi du formulaire")
    expect(later.locator("li[data-rule]")).to_have_count(2)
    new = page.get_by_label("Nouveau mot de passe", exact=True)
    described = (new.get_attribute("aria-describedby") or "").split()
    assert "password-rules-later" in described, described
    shoot(page, "change-password-checklist-count")
    audit(page, "change-password-checklist-count")
