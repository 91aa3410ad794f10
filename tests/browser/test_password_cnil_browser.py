"""The CNIL profile's live checklist in Chromium (issue #16, part 4): the entropy
rule judged as the person types, from the same definition as the server, with
the bits of what is typed; zxcvbn's verdict comes from the server, translated."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import running_stack
from tests.support.browser import Audit, Stack, add_account, expect, login_url, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def cnil_stack(tmp_path_factory: pytest.TempPathFactory, demo_database: Path) -> Iterator[Stack]:
    with running_stack(
        tmp_path_factory.mktemp("browser-cnil-stack"), demo_database, policy="cnil"
    ) as running:
        yield running


@pytest.fixture(scope="module")
def cnil_app(cnil_stack: Stack) -> Any:
    from cas_server import create_app

    return create_app(cnil_stack.config, environ={})


def test_the_entropy_rule_is_live_and_zxcvbn_answers_from_the_server(
    page: Any, cnil_stack: Stack, cnil_app: Any, audit: Audit
) -> None:
    add_account(
        cnil_app, "cnilfr", "Provisoire-Secret-26!", must_change=True, charter_accepted=False
    )  # no charters on this stack
    page.goto(login_url(cnil_stack, "ent"))
    sign_in(page, "cnilfr", "Provisoire-Secret-26!")
    expect(page).to_have_url(cnil_stack.cas + "/login/password")
    rule = page.locator('li[data-rule="entropy"]')
    expect(rule).to_contain_text("Au moins 80 bits d'entropie")
    new = page.get_by_label("Nouveau mot de passe", exact=True)

    # 12 characters of three kinds: 12 × log2(62) ≈ 71 bits, said as it is typed.
    new.press_sequentially("Kq7vLm2xRtPw")
    expect(rule).to_have_class(re.compile(r"\bis-broken\b"))
    expect(rule.locator("[data-entropy-now]")).to_have_text("(actuellement : 71 bits)")
    # A special character more: 13 × log2(99) ≈ 86 bits, met.
    new.press_sequentially("!")
    expect(rule).to_have_class(re.compile(r"\bis-met\b"))
    expect(rule.locator("[data-entropy-now]")).to_have_text("(actuellement : 86 bits)")
    audit(page, "change-password-cnil")

    # Long and varied, but guessable: the server's zxcvbn refuses it, with its advice in French.
    new.fill("Password1234!")
    page.get_by_label("Confirmation du nouveau mot de passe", exact=True).fill("Password1234!")
    page.get_by_role("button", name="Changer mon mot de passe").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Difficile à deviner")
    expect(alert).to_contain_text("Ajoutez un ou deux mots de plus")
    expect(page.locator('li[data-rule="zxcvbn"]')).to_have_class(re.compile(r"\bis-broken\b"))
