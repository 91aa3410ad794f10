"""The wording reader, the dictionary order and the special characters of a policy
(issue #12, items 10–12 and 15)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cas_server.accounts.policy import PasswordContext, char_class
from cas_server.settings.policy_config import PolicyError, policy_from_mapping
from cas_server.settings.server import ConfigError
from cas_server.web.labels import read_theme_wording, read_wording, sort_key

LANGUAGES = ("fr", "en")
THEMES = Path(__file__).resolve().parents[2] / "themes"


def no_words(name: str) -> frozenset[str]:
    return frozenset()


# Dictionary order (item 15) ----------------------------------------------------------


def test_french_names_sort_as_in_a_dictionary() -> None:
    names = ["Inde", "Îles Caïmans", "Égypte", "Espagne", "Danemark", "États-Unis", "Estonie"]
    names += ["Hongrie", "Éthiopie", "Île de Man", "Œuf", "Oman", "Ouganda"]
    assert sorted(names, key=sort_key) == [
        "Danemark",
        "Égypte",
        "Espagne",
        "Estonie",
        "États-Unis",
        "Éthiopie",
        "Hongrie",
        "Île de Man",
        "Îles Caïmans",
        "Inde",
        "Œuf",  # œ files as "oe"
        "Oman",
        "Ouganda",
    ]


def test_english_names_sort_as_in_a_dictionary() -> None:
    names = ["Albania", "Zambia", "Åland Islands", "Afghanistan", "Curaçao", "Cuba", "Czechia"]
    assert sorted(names, key=sort_key) == [
        "Afghanistan",
        "Åland Islands",
        "Albania",
        "Cuba",
        "Curaçao",
        "Czechia",
        "Zambia",
    ]


def test_ties_are_broken_by_accents_then_case() -> None:
    assert sorted(["côte", "Cote", "cote"], key=sort_key) == ["Cote", "cote", "côte"]
    # Punctuation files before letters, as spaces do: "l’Ascension" before "la".
    assert sorted(["Île de la Cité", "Île de l’Ascension"], key=sort_key)[0] == (
        "Île de l’Ascension"
    )


# The [wording] tables (items 10, 11, 13) ---------------------------------------------


def test_wording_is_read_per_language() -> None:
    wording = read_wording(
        {
            "profiles": {"fr": {"student": "Étudiant"}, "en": {"student": "Student"}},
            "attributes": {"fr": {"supannEtuCursusAnnee": "Année d'études"}},
            "institution": {"fr": {"at": "à l'Université Exemple"}},
        },
        "wording",
        LANGUAGES,
    )
    assert wording.get("profiles", "fr", "student") == "Étudiant"
    assert wording.get("profiles", "en", "teacher") is None
    # Attribute names compare without case, as in LDAP.
    assert wording.get("attributes", "fr", "supannetucursusannee") == "Année d'études"
    assert wording.get("institution", "fr", "at") == "à l'Université Exemple"
    assert wording.get("institution", "en", "at") is None


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"profiles": {"fr": {"studnet": "Étudiant"}}}, "wording.profiles.fr.studnet"),
        ({"profiles": {"de": {"student": "Student"}}}, "wording.profiles.de"),
        ({"profiles": {"fr": {"student": 3}}}, "wording.profiles.fr.student"),
        ({"profiles": {"fr": {"student": " "}}}, "wording.profiles.fr.student"),
        ({"profiles": {"student": "Étudiant"}}, "wording.profiles.student"),
        ({"institution": {"fr": {"in": "dans"}}}, "wording.institution.fr.in"),
        ({"labels": {}}, "wording.labels"),
    ],
)
def test_wording_mistakes_stop_the_start(table: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        read_wording(table, "wording", LANGUAGES)
    assert caught.value.key == key


def test_the_example_themes_say_their_words() -> None:
    themes = read_theme_wording(THEMES, ["default", "univ-exemple", "college-exemple"], LANGUAGES)
    assert themes["univ-exemple"].get("profiles", "fr", "student") == "Étudiant"
    assert themes["college-exemple"].get("profiles", "fr", "student") == "Élève"
    assert themes["college-exemple"].get("profiles", "en", "student") == "Pupil"
    assert themes["college-exemple"].get("institution", "fr", "at") == "au Collège Exemple"
    assert themes["univ-exemple"].get("institution", "fr", "of") == "de l'Université Exemple"
    assert themes["default"].get("profiles", "fr", "student") is None


# The special characters of a policy (item 12) ----------------------------------------


def test_only_the_listed_characters_count_as_special() -> None:
    policy = policy_from_mapping(
        "p",
        {"min_length": 8, "classes": {"special": 1}, "special_characters": "!#$"},
        no_words,
    )
    ctx = PasswordContext()
    assert {v.rule for v in policy.check("abcdefgh-", ctx)} == {"class_special"}
    assert policy.check("abcdefgh#", ctx) == []
    described = {d["rule"]: d for d in policy.describe()}["class_special"]
    assert described["params"]["chars"] == "!#$"
    assert described["params"]["list"] == "! # $"
    assert described["plural"] and described["count"] == 1
    assert char_class("-", "!#$") == "other" and char_class("#", "!#$") == "special"
    assert char_class("-") == "special"  # without a list, anything but letters and digits


def test_kinds_of_characters_count_only_listed_specials() -> None:
    policy = policy_from_mapping(
        "p", {"min_length": 4, "classes_k_of_n": 2, "special_characters": "!"}, no_words
    )
    assert {v.rule for v in policy.check("abcd-")} == {"classes_k_of_n"}
    assert policy.check("abcd!") == []


@pytest.mark.parametrize("value", ["", "ab!", "! ", 3])
def test_special_characters_must_be_signs(value: object) -> None:
    with pytest.raises(PolicyError) as caught:
        policy_from_mapping("p", {"min_length": 8, "special_characters": value}, no_words)
    assert caught.value.key == "special_characters"
