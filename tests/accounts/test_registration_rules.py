"""Self-registration's pure rules (#16, part 1): domains, the login pattern,
transliteration, networks, and the ``[registration]`` settings."""

from __future__ import annotations

from typing import Any

import pytest

from cas_server.accounts.model import Profile
from cas_server.accounts.registration import (
    Applicant,
    PatternError,
    base_login,
    check_pattern,
    domain_allowed,
    login_candidates,
    network_of,
    public_data,
    transliterate,
)
from cas_server.settings.registration import load_registration_settings
from cas_server.settings.server import ConfigError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Éloïse", "eloise"),
        ("Le Goff-Dûrand", "le-goff-durand"),
        ("O'Connor", "o-connor"),
        ("Straße", "strasse"),
        ("Lætitia Œrsted", "laetitia-oersted"),
        ("Łukasz Søren", "lukasz-soren"),
        ("  Anne   Marie ", "anne-marie"),
        ("Ｊｅａｎ", "jean"),  # full-width letters (NFKC)
        ("Zoë_2", "zoe-2"),
        ("李", ""),  # nothing ASCII left: the pattern falls back
    ],
)
def test_transliteration_keeps_lowercase_ascii(text: str, expected: str) -> None:
    assert transliterate(text) == expected
    assert set(transliterate(text)) <= set("abcdefghijklmnopqrstuvwxyz0123456789.-")


def test_login_pattern_prenom_nom_and_its_variants() -> None:
    assert base_login("{given}.{family}", "Éloïse", "Le Goff") == "eloise.le-goff"
    assert base_login("{given_initial}{family}", "Jean", "Dupont") == "jdupont"
    assert base_login("{family}.{given_initial}", "Jean", "Dupont") == "dupont.j"
    assert base_login("ext-{given}.{family}", "Jean", "Dupont") == "ext-jean.dupont"
    # Nothing transliterable: dots do not pile up, a fallback login.
    assert base_login("{given}.{family}", "李", "Dupont") == "dupont"
    assert base_login("{given}.{family}", "李", "王") == "user"
    assert len(base_login("{given}.{family}", "a" * 200, "b" * 200)) <= 100


def test_a_number_on_collision() -> None:
    candidates = login_candidates("jean.dupont")
    assert [next(candidates) for _ in range(4)] == [
        "jean.dupont",
        "jean.dupont2",
        "jean.dupont3",
        "jean.dupont4",
    ]


@pytest.mark.parametrize(
    "pattern", ["{given}.{nom}", "plain", "{given} {family}", "{given}.{family}X"]
)
def test_bad_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(PatternError):
        check_pattern(pattern)


def test_domains_allowed_denied_and_subdomains() -> None:
    assert domain_allowed("a@example.org", (), ())
    assert domain_allowed("a@partner.example", ("partner.example",), ())
    assert domain_allowed("a@mail.partner.example", ("partner.example",), ())
    assert not domain_allowed("a@notpartner.example", ("partner.example",), ())
    assert not domain_allowed("a@other.example", ("partner.example",), ())
    assert not domain_allowed("a@univ-exemple.fr", (), ("univ-exemple.fr",))
    assert not domain_allowed("a@etu.UNIV-exemple.fr", (), ("univ-exemple.fr",))
    assert domain_allowed("a@gmail.com", (), ("univ-exemple.fr",))
    assert not domain_allowed("no-domain", (), ())


def test_networks_counted_together() -> None:
    assert network_of("203.0.113.7") == "203.0.113.0/24"
    assert network_of("203.0.113.200") == network_of("203.0.113.7")
    assert network_of("2001:db8:1:2:3::1") == "2001:db8:1::/56"
    assert network_of("2001:db8:1:ff::9") == network_of("2001:db8:1:2:3::1")
    assert network_of("::ffff:203.0.113.9") == "203.0.113.0/24"
    assert network_of("10.1.2.3", v4_prefix=16) == "10.1.0.0/16"
    assert network_of("unknown") == "unknown"


def test_the_request_keeps_a_password_hash_only_until_decided() -> None:
    applicant = Applicant("a@example.org", "Jean", "Dupont", "FR", "company", "en")
    data = applicant.data("$2b$04$hash", ("general", "2026-09"))
    assert data["password_hash"] == "$2b$04$hash"
    assert data["charter"] == {"id": "general", "version": "2026-09"}
    assert "password_hash" not in public_data(data)
    assert public_data(data)["given_name"] == "Jean"


# Settings ---------------------------------------------------------------------------------


def test_off_by_default_with_sane_defaults() -> None:
    settings = load_registration_settings({})
    assert not settings.enabled
    assert settings.profile is Profile.EXTERNAL
    assert settings.link_ttl == 86400
    assert settings.login_pattern == "{given}.{family}"


def test_settings_read() -> None:
    settings = load_registration_settings(
        {
            "registration": {
                "enabled": True,
                "profile": "parent",
                "attributes": {"supannOrganisme": "EXT", "eduPersonEntitlement": ["a", "b"]},
                "allowed_domains": ["@Partner.Example", "*.other.example"],
                "require_approval": True,
                "login_pattern": "{given_initial}{family}",
                "link_ttl": 3600,
            }
        }
    )
    assert settings.enabled and settings.require_approval
    assert settings.profile is Profile.PARENT
    assert settings.allowed_domains == ("partner.example", "other.example")
    assert settings.extra_attributes == {
        "supannOrganisme": ("EXT",),
        "eduPersonEntitlement": ("a", "b"),
    }


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"enabled": "yes"}, "registration.enabled"),
        ({"profile": "alien"}, "registration.profile"),
        (
            {"allowed_domains": ["a.org"], "denied_domains": ["b.org"]},
            "registration.denied_domains",
        ),
        ({"allowed_domains": ["not a domain"]}, "registration.allowed_domains"),
        ({"login_pattern": "{nom}"}, "registration.login_pattern"),
        ({"link_ttl": 172800}, "registration.link_ttl"),
        ({"attributes": {"uid": "x"}}, "registration.attributes.uid"),
        ({"attributes": {"o": 3}}, "registration.attributes.o"),
        ({"max_requests_per_address": 0}, "registration.max_requests_per_address"),
        ({"ipv4_prefix": 33}, "registration.ipv4_prefix"),
    ],
)
def test_bad_settings_name_the_key(values: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_registration_settings({"registration": values})
    assert caught.value.key == key
