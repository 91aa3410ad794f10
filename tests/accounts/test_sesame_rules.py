"""Sésame's pure rules: identification input, joker answers, tokens, facts, temporary passwords."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cas_server.accounts.identity import (
    IdentifierKind,
    InputError,
    clean_text,
    parse_birth_date,
    parse_email,
    parse_identifier,
    parse_mobile,
)
from cas_server.accounts.joker import decoy_question, normalize_answer, parse_answer
from cas_server.accounts.model import Account, Profile, Status
from cas_server.accounts.policy import PasswordContext
from cas_server.accounts.recovery import Facts, facts_match, temporary_password
from cas_server.accounts.tokens import (
    code_digest,
    code_matches,
    digest,
    looks_like_secret,
    new_code,
    new_secret,
    normalize_code,
)
from cas_server.settings.policies import load_policy

POLICIES = Path(__file__).resolve().parents[2] / "config" / "password-policies"
TODAY = date(2026, 11, 22)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("14/03/2005", date(2005, 3, 14)),
        ("4/3/2005", date(2005, 3, 4)),
        ("14-03-2005", date(2005, 3, 14)),
        ("14.03.2005", date(2005, 3, 14)),
        (" 2005-03-14 ", date(2005, 3, 14)),
    ],
)
def test_birth_dates_as_french_users_type_them(typed: str, expected: date) -> None:
    assert parse_birth_date(typed, TODAY) == expected


@pytest.mark.parametrize(
    "typed",
    ["", "14/03/05", "2005/03/14", "31/02/2005", "14/13/2005", "01/01/1850", "01/01/2030", "x"],
)
def test_bad_birth_dates_are_refused_with_a_message(typed: str) -> None:
    with pytest.raises(InputError) as error:
        parse_birth_date(typed, TODAY)
    assert error.value.field == "birth_date" and error.value.message


def test_identifiers_are_normalised() -> None:
    assert parse_identifier(IdentifierKind.INE, " 0123456789a ") == "0123456789A"
    assert parse_identifier(IdentifierKind.LOGIN, " Jean.Dupont ") == "jean.dupont"
    for bad in ("12;DROP", "a\x00b", "x" * 65, ""):
        with pytest.raises(InputError):
            parse_identifier(IdentifierKind.STUDENT_NUMBER, bad)


def test_channels_are_normalised() -> None:
    assert parse_mobile("m", "06 12 34 56 78") == "+33612345678"
    assert parse_mobile("m", "0033 6.12.34.56.78") == "+33612345678"
    assert parse_mobile("m", "+44 7700 900123") == "+447700900123"
    assert parse_mobile("m", "", optional=True) is None
    assert parse_email("e", "Jean@Example.ORG") == "Jean@example.org"
    for bad in ("jean", "jean@", "a@b", "a b@c.org\u202e"):
        with pytest.raises(InputError):
            parse_email("e", bad)
    with pytest.raises(InputError):
        parse_mobile("m", "12345")


def test_control_characters_and_oversized_text() -> None:
    assert clean_text("f", "  a   b ") == "a b"
    for bad in ("a\x07", "a\u200bb", "x" * 5000):
        with pytest.raises(InputError):
            clean_text("f", bad)


def test_joker_answers_are_normalised_and_not_the_login_or_password() -> None:
    """T13."""
    assert normalize_answer("  Élodie   DU  Pont ") == "elodie du pont"
    assert parse_answer("Médor", login="alice", password="Secret-1234567") == "medor"
    for answer in ("ALICE", "Secret-1234567", "ab"):
        with pytest.raises(InputError):
            parse_answer(answer, login="alice", password="Secret-1234567")


def test_decoy_question_is_fixed_for_a_seed_and_drawn_from_the_list() -> None:
    allowed = ["first_pet", "first_school", "dream_job"]
    first = decoy_question(b"k", "seed", allowed)
    assert first in allowed and decoy_question(b"k", "seed", allowed) == first
    assert {decoy_question(b"k", f"s{i}", allowed) for i in range(50)} == set(allowed)


def test_tokens_are_random_long_and_only_hashes_are_kept() -> None:
    """T4: ≥ 128 bits from secrets; codes are 6 digits bound to a handle."""
    secrets_ = {new_secret() for _ in range(100)}
    assert len(secrets_) == 100 and all(len(s) >= 43 and looks_like_secret(s) for s in secrets_)
    assert digest("abc") != "abc" and len(digest("abc")) == 64
    codes = [new_code() for _ in range(200)]
    assert all(len(c) == 6 and c.isdigit() for c in codes) and len(set(codes)) > 150
    handle = new_secret()
    stored = code_digest(handle, "123456")
    assert code_matches(handle, "123456", stored) and not code_matches(handle, "123457", stored)
    assert not code_matches(new_secret(), "123456", stored)
    assert normalize_code(" 123-456 ") == "123456"
    assert not looks_like_secret("../../etc") and not looks_like_secret("a" * 200)


def _account(**fields: object) -> Account:
    base: dict[str, object] = {
        "uuid": "u",
        "login": "hugo",
        "profile": Profile.EXTERNAL,
        "status": Status.ACTIVE,
        "given_name": "Hugo",
        "family_name": "Bérnard",
        "personal_email": "hugo@example.com",
        "attributes": {"c": ("FR",), "o": ("company",)},
    }
    base.update(fields)
    return Account(**base)  # type: ignore[arg-type]


def test_facts_compare_loosely_but_all_of_them() -> None:
    account = _account()
    right = Facts("HUGO@example.com", " hugo", "BERNARD", "fr", "company")
    assert facts_match(account, right)
    for wrong in (
        Facts("hugo@example.org", "Hugo", "Bernard", "FR", "company"),
        Facts("hugo@example.com", "Victor", "Bernard", "FR", "company"),
        Facts("hugo@example.com", "Hugo", "Bernard", "BE", "company"),
        Facts("hugo@example.com", "Hugo", "Bernard", "FR", "school"),
    ):
        assert not facts_match(account, wrong)
    assert not facts_match(_account(attributes={}), right)  # nothing on file: never


@pytest.mark.parametrize("name", ["uphf", "oze", "ent-midi-pyrenees", "metamots", "nist"])
def test_temporary_passwords_pass_every_shipped_policy(name: str) -> None:
    policy = load_policy(POLICIES, name)
    context = PasswordContext(login="hugo.bernard", full_name="Hugo Bernard")
    for _ in range(20):
        password = temporary_password(lambda pw: not policy.check(pw, context), 12, 30)
        assert not policy.check(password, context), password
