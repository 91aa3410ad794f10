"""The CNIL profile on a password form (issue #16, part 4): the entropy rule in the
live checklist, and the server's refusals (entropy, zxcvbn's advice) in both languages."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cas_server.accounts.model import Account
from tests.support.app import PASSWORD
from tests.support.html import text
from tests.support.profile import ProfileBrowser, person

URL = "/profile/password"


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**sesame_overrides, "passwords": {"policy": "cnil", "bcrypt_cost": 4}}


@pytest.fixture
def alice(app: Flask) -> Account:
    return person(app, "alice", given_name="Alice", family_name="Martin")


def change(browser: ProfileBrowser, new: str) -> Any:
    return browser.submit(
        URL, {"current_password": PASSWORD, "new_password": new, "confirm_password": new}
    )


def test_the_checklist_carries_the_entropy_rule_for_the_script(
    sesame_client: FlaskClient, alice: Account
) -> None:
    browser = ProfileBrowser(sesame_client, "en")
    browser.sign_in()
    page = browser.text(URL)
    assert "At least 80 bits of entropy" in page
    assert 'data-entropy-now data-text="(now: {bits} bits)"' in page
    policy = json.loads(html.unescape(re.search(r'data-policy="([^"]+)"', page).group(1)))  # type: ignore[union-attr]
    entropy = next(rule for rule in policy if rule["rule"] == "entropy")
    assert entropy == {
        "rule": "entropy",
        "params": {"bits": 80, "sizes": {"lower": 26, "upper": 26, "digit": 10, "special": 37}},
        "client": True,
    }
    # zxcvbn runs on the server only: listed with the rules checked when the form is sent.
    later = page[page.index('id="password-rules-later"') :]
    assert "Not easy to guess (a strength estimate of at least 3 out of 4)" in later


@pytest.mark.parametrize(
    ("lang", "entropy", "advice"),
    [
        (
            "en",
            "At least 80 bits of entropy",
            "Add another word or two. Uncommon words are better.",
        ),
        (
            "fr",
            "Au moins 80 bits d'entropie",
            "Ajoutez un ou deux mots de plus, de préférence peu courants.",
        ),
    ],
)
def test_refusals_say_the_rule_and_zxcvbn_advice_in_the_reader_language(
    sesame_client: FlaskClient, alice: Account, lang: str, entropy: str, advice: str
) -> None:
    browser = ProfileBrowser(sesame_client, lang)
    browser.sign_in()
    # 12 characters of three kinds: 12 × log2(62) ≈ 71 bits, below the 80 of a password alone.
    weak = change(browser, "Kq7vLm2xRtPw")
    assert weak.status_code == 400
    assert entropy in text(weak)
    # Long and of four kinds (≈ 86 bits), but guessable: zxcvbn refuses it, with its advice.
    guessable = change(browser, "Password1234!")
    assert guessable.status_code == 400
    errors = html.unescape(
        re.search(r'id="password-errors".*?</div>', guessable.get_data(as_text=True), re.S).group(0)  # type: ignore[union-attr]
    )
    assert entropy not in errors  # the entropy rule is met: not among the errors
    assert advice in errors
    if lang == "fr":
        assert "Add another word" not in errors  # never zxcvbn's own English


def test_a_password_of_the_deliberation_is_accepted(
    sesame_client: FlaskClient, alice: Account
) -> None:
    browser = ProfileBrowser(sesame_client, "en")
    browser.sign_in()
    # Example 1: 12 characters of the four kinds (12 × log2(99) ≈ 79.6, "80 bits").
    assert change(browser, "Kq7#vLm2!xRt").status_code == 303
