"""The CNIL rule (deliberation 2022-100) on the deliberation's own examples (issue #16, part 4).

The deliberation measures a password by its entropy, ``length ×
log2(alphabet)``, the alphabet being the kinds of characters used (26
lowercase, 26 uppercase, 10 digits, 37 special characters), and states its
figures in whole bits: 80 bits for a password alone, 50 with a restriction
of access after failures. Each example is computed here, then checked
against the ``cnil`` and ``cnil-lockout`` profiles as shipped.
"""

from __future__ import annotations

import math

import pytest

from cas_server.accounts.entropy import (
    ZXCVBN_FEEDBACK,
    MinEntropy,
    MinZxcvbnScore,
    alphabet_size,
    entropy_bits,
    whole_bits,
    zxcvbn_estimate,
)
from cas_server.accounts.policy import Blocklist, PasswordContext, PasswordPolicy
from cas_server.settings.policies import load_policy
from tests.support.paths import ROOT

POLICIES = ROOT / "config" / "password-policies"


@pytest.fixture(scope="module")
def cnil() -> PasswordPolicy:
    return load_policy(POLICIES, "cnil")


@pytest.fixture(scope="module")
def cnil_lockout() -> PasswordPolicy:
    return load_policy(POLICIES, "cnil-lockout")


def rules_broken(policy: PasswordPolicy, password: str, login: str = "jdupont") -> set[str]:
    return {v.rule for v in policy.check(password, PasswordContext(login=login))}


# --- The computation, as the deliberation does it ---------------------------------


@pytest.mark.parametrize(
    ("password", "alphabet"),
    [
        ("abcdefgh", 26),
        ("ABCdef", 52),
        ("abc123", 36),
        ("Abc123", 62),
        ("Ab1!", 99),  # 26 + 26 + 10 + the deliberation's 37 special characters
        ("é à ç", 26 + 37),  # accented letters are letters; a space is a special character
    ],
)
def test_the_alphabet_is_the_union_of_the_kinds_used(password: str, alphabet: int) -> None:
    assert alphabet_size(password) == alphabet
    assert entropy_bits(password) == pytest.approx(len(password) * math.log2(alphabet))


def test_example_1_twelve_characters_of_the_four_kinds_reach_80_bits(
    cnil: PasswordPolicy,
) -> None:
    password = "Kq7#vLm2!xRt"  # 12 characters: lowercase, uppercase, digits, special
    assert len(password) == 12 and alphabet_size(password) == 99
    bits = entropy_bits(password)
    assert bits == pytest.approx(12 * math.log2(99)) == pytest.approx(79.55, abs=0.01)
    assert whole_bits(bits) == 80  # "80 bits", as the deliberation states it
    assert rules_broken(cnil, password) == set()
    # One character less: 11 × log2(99) ≈ 72.9 bits, refused.
    assert whole_bits(entropy_bits(password[:11])) == 73
    assert "entropy" in rules_broken(cnil, password[:11])


def test_example_2_fourteen_characters_without_special_ones_reach_80_bits(
    cnil: PasswordPolicy,
) -> None:
    three_kinds = "Vk7mQz2pLx9tRw"  # uppercase, lowercase, digits: the deliberation's example
    assert len(three_kinds) == 14 and alphabet_size(three_kinds) == 62
    assert (
        entropy_bits(three_kinds)
        == pytest.approx(14 * math.log2(62))
        == pytest.approx(83.36, abs=0.01)
    )
    assert rules_broken(cnil, three_kinds) == set()
    two_kinds = "VkqmQzwpLxbtRw"  # 14 letters of both cases: 14 × log2(52) ≈ 79.8, "80 bits"
    assert whole_bits(entropy_bits(two_kinds)) == 80
    assert "entropy" not in rules_broken(cnil, two_kinds)
    digits_and_lowercase = "vk7mqz2plx9trw"  # 14 × log2(36) ≈ 72.4: not enough alone
    assert whole_bits(entropy_bits(digits_and_lowercase)) == 72
    assert "entropy" in rules_broken(cnil, digits_and_lowercase)


def test_example_3_a_passphrase_of_seven_words(cnil: PasswordPolicy) -> None:
    passphrase = "girafe tambour orage velours citron brindille phare"
    assert len(passphrase.split()) == 7
    # 51 characters of lowercase and spaces (special): 51 × log2(63) ≈ 304.8 bits.
    assert entropy_bits(passphrase) == pytest.approx(51 * math.log2(63))
    assert rules_broken(cnil, passphrase) == set()


def test_with_a_lockout_50_bits_suffice(cnil_lockout: PasswordPolicy, cnil: PasswordPolicy) -> None:
    eight = "Kq#vL!mx"  # 8 characters of lowercase, uppercase and special: 8 × log2(89) ≈ 51.8
    assert whole_bits(entropy_bits(eight)) == 52
    assert rules_broken(cnil_lockout, eight) == set()
    assert "entropy" in rules_broken(cnil, eight)  # not for a password alone
    letters_digits = "Kq7vLm2x"  # 8 × log2(62) ≈ 47.6: one character short
    assert whole_bits(entropy_bits(letters_digits)) == 48
    assert "entropy" in rules_broken(cnil_lockout, letters_digits)
    assert "entropy" not in rules_broken(cnil_lockout, letters_digits + "p")  # 9: ≈ 53.6


def test_a_policy_that_lists_its_special_characters_counts_those() -> None:
    rule = MinEntropy(80, specials="!?#")
    # Only three special characters in the alphabet: 12 of four kinds is 12 × log2(65) ≈ 72.3.
    assert alphabet_size("Kq7#vLm2!xRt", "!?#") == 65
    assert rule.check("Kq7#vLm2!xRt", PasswordContext()) is not None
    assert rule.describe()["params"]["sizes"]["special"] == 3


# --- zxcvbn: long enough is not enough when it is guessable ------------------------


def test_zxcvbn_refuses_a_guessable_password_the_entropy_would_accept(
    cnil: PasswordPolicy,
) -> None:
    guessable = "Password1234!"  # 13 characters of four kinds: 86 bits by the formula…
    assert whole_bits(entropy_bits(guessable)) >= 80
    violations = [v for v in cnil.check(guessable, PasswordContext(login="jdupont"))]
    zx = next(v for v in violations if v.rule == "zxcvbn")  # …yet trivially guessed
    assert zx.params["score"] == 3
    assert zx.params["feedback"] and set(zx.params["feedback"]) <= ZXCVBN_FEEDBACK


def test_zxcvbn_knows_the_person(cnil: PasswordPolicy) -> None:
    rule = MinZxcvbnScore(3)
    context = PasswordContext(login="jdupont", full_name="Jeanne Dupont-Marchal")
    assert rule.check("MarchalJeanne", context) is not None
    assert rule.check("MarchalJeanne", PasswordContext()) is None


def test_zxcvbn_feedback_is_only_known_message_ids() -> None:
    score, feedback = zxcvbn_estimate("qwertyuiop", [])
    assert score <= 1
    assert feedback and all(message in ZXCVBN_FEEDBACK for message in feedback)
    score, feedback = zxcvbn_estimate("x" * 300, [])  # longer than zxcvbn takes: cut, not refused
    assert 0 <= score <= 4


def test_the_profiles_keep_the_blocklist_and_say_their_rules(cnil: PasswordPolicy) -> None:
    assert any(isinstance(rule, Blocklist) for rule in cnil.rules)
    described = {rule["rule"]: rule for rule in cnil.describe()}
    assert described["entropy"]["client"] is True  # the live checklist computes it
    assert described["entropy"]["params"]["bits"] == 80
    assert described["entropy"]["params"]["sizes"] == {
        "lower": 26,
        "upper": 26,
        "digit": 10,
        "special": 37,
    }
    assert described["zxcvbn"]["client"] is False  # only the server runs zxcvbn
    assert "blocklist" in rules_broken(cnil, "azertyuiop123")
