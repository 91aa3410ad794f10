"""The password policy engine and the shipped profiles, with test vectors (T15–T21)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cas_server.accounts.policy import PasswordContext, PasswordPolicy, normalize_password
from cas_server.auth.hashing import hash_password, verify_password
from cas_server.settings.policies import load_policy
from cas_server.settings.policy_config import PolicyError, policy_from_mapping

POLICIES = Path(__file__).resolve().parents[2] / "config" / "password-policies"
CTX = PasswordContext(login="jdupont", full_name="Jean Dupont")


def rules_broken(policy: PasswordPolicy, password: str, ctx: PasswordContext = CTX) -> set[str]:
    return {v.rule for v in policy.check(password, ctx)}


@pytest.mark.parametrize(
    ("password", "broken"),
    [
        ("Tr0ub4dor&3xyz", set()),
        ("Tr0ub4dor&3", {"min_length"}),  # 11 characters
        ("Tr0ub4dor&3xyz" * 3, {"max_length"}),
        ("tr0ub4dor&3xyz", {"class_upper"}),
        ("TR0UB4DOR&3XYZ", {"class_lower"}),
        ("Troubador&xyzw", {"class_digit"}),
        ("Tr0ub4dor33xyz", {"class_special"}),
        ("Tr0ub4dor &3xyz", {"forbidden_characters"}),
        ("Tr0ub!JDupont-4", {"not_login"}),
        ("Été-Très-Ouvert-9!", set()),  # accented letters are letters
        ("Tr0ub4dor-3xyz", {"class_special"}),  # "-" is not among UPHF's special characters
    ],
)
def test_uphf_profile(password: str, broken: set[str]) -> None:
    assert rules_broken(load_policy(POLICIES, "uphf"), password) == broken


@pytest.mark.parametrize(
    ("password", "broken"),
    [
        ("bleu-Ciel-8", set()),
        ("bleuciel8", {"classes_k_of_n"}),  # 2 kinds only
        ("Bleu7", {"min_length"}),
        ("jdupont-Xy7", {"not_login", "name_run"}),  # "dup" is in Dupont too
        ("Pontneuf-77", {"name_run"}),  # "pon" from Dupont: 3 consecutive characters
        ("Jeune-Ours-7", set()),  # shares only 2-character runs ("je", "ea"…) with the name
    ],
)
def test_oze_profile(password: str, broken: set[str]) -> None:
    assert rules_broken(load_policy(POLICIES, "oze"), password) == broken


def test_name_run_ignores_case_and_accents() -> None:
    policy = load_policy(POLICIES, "oze")
    ctx = PasswordContext(login="x", full_name="Hélène Bérénice")
    assert "name_run" in rules_broken(policy, "LENA-Ski-90!", ctx)  # "len" from Hélène
    assert "name_run" not in rules_broken(policy, "Lea-Ski-90!x", ctx)


def test_nist_profile_prefers_length_and_blocks_common_passwords() -> None:
    policy = load_policy(POLICIES, "nist")
    assert rules_broken(policy, "correct cheval batterie agrafe") == set()
    assert rules_broken(policy, "short pass") == {"min_length"}
    assert "blocklist" in rules_broken(policy, "MotDePasseMotDePasse")
    assert "blocklist" in rules_broken(policy, "azertyuiopqsdfgh")
    assert rules_broken(policy, "a" * 129) >= {"max_length"}
    assert rules_broken(policy, "é" * 64 + "x" * 10) == set()  # ≥ 64 accepted (T21)


def test_every_shipped_profile_loads() -> None:
    names = sorted(p.stem for p in POLICIES.glob("*.toml"))
    assert names == [
        "cnil",  # CNIL deliberation 2022-100 (#16): tests/accounts/test_policy_cnil.py
        "cnil-lockout",
        "ent-midi-pyrenees",
        "metamots",
        "nist",
        "oze",
        "uphf",
    ]
    for name in names:
        assert load_policy(POLICIES, name).rules


def test_length_counts_code_points_after_nfc() -> None:
    policy = policy_from_mapping("t", {"min_length": 4, "not_login": False}, lambda _n: frozenset())
    decomposed = "e\u0301" * 3  # "ééé" typed with combining accents: 3 characters, not 6
    assert normalize_password(decomposed) == "ééé"
    assert rules_broken(policy, decomposed) == {"min_length"}
    assert rules_broken(policy, decomposed + "x") == set()


def test_history_checks_hashes() -> None:
    policy = policy_from_mapping(
        "t", {"min_length": 1, "history": 2, "not_login": False}, lambda _n: frozenset()
    )
    history = [hash_password(p, 4) for p in ("newest-1", "older-2", "oldest-3")]
    ctx = PasswordContext(history=history, verify=verify_password)
    assert rules_broken(policy, "newest-1", ctx) == {"history"}
    assert rules_broken(policy, "older-2", ctx) == {"history"}
    assert rules_broken(policy, "oldest-3", ctx) == set()  # only the last 2 count


def test_describe_marks_server_only_rules() -> None:
    described = {d["rule"]: d for d in load_policy(POLICIES, "uphf").describe()}
    assert described["min_length"]["params"] == {"n": 12} and described["min_length"]["client"]
    assert described["history"]["client"] is False  # hashes never leave the server
    assert described["blocklist"]["client"] is False


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({}, "min_length"),
        ({"min_length": 0}, "min_length"),
        ({"min_length": 8, "max_length": 4}, "max_length"),
        ({"min_length": 8, "classes": {"emoji": 1}}, "classes"),
        ({"min_length": 8, "classes_k_of_n": 5}, "classes_k_of_n"),
        ({"min_length": 8, "colour": "red"}, "colour"),
        ({"min_length": 8, "not_login": "yes"}, "not_login"),
    ],
)
def test_bad_policy_definitions(data: dict[str, object], key: str) -> None:
    with pytest.raises(PolicyError) as err:
        policy_from_mapping("bad", data, lambda _n: frozenset())
    assert err.value.key == key
