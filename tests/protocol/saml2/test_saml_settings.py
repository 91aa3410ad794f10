"""``[saml]`` (cas_server.settings.saml, #18): built-in policies, defaults, the salt from
``CAS_SAML__SALT``, paths relative to the config file, and errors that name the key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from cas_server.protocol.saml2.name_id import EMAIL, PERSISTENT, TRANSIENT
from cas_server.protocol.saml2.policy import (
    CODE_OF_CONDUCT_V1,
    CODE_OF_CONDUCT_V2,
    RESEARCH_AND_SCHOLARSHIP,
    ServiceProvider,
)
from cas_server.settings.saml import (
    TEST_ONLY_SALT,
    SamlSettings,
    load_saml_settings,
)
from cas_server.settings.server import ConfigError, load_raw
from tests.support.paths import ROOT

PUBLIC = "https://cas.univ-exemple.fr"
SALT = "k" * 40


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "idp.key").write_text("key")
    (tmp_path / "idp.crt").write_text("cert")
    return {"key_file": str(tmp_path / "idp.key"), "cert_file": str(tmp_path / "idp.crt")}


def load(mode: str = "production", **section: Any) -> SamlSettings:
    raw = {"saml": section, "server": {"institution_name": "Université Exemple"}}
    return load_saml_settings(raw, public_url=PUBLIC, mode=mode, instance_path="/srv/instance")


def enabled(keys: dict[str, str], **more: Any) -> dict[str, Any]:
    return {"enabled": True, "scope": "univ-exemple.fr", "salt": SALT, **keys, **more}


def key_of(excinfo: pytest.ExceptionInfo[ConfigError]) -> str:
    return excinfo.value.key


def test_default_toml_gives_a_disabled_idp_with_the_built_in_rules() -> None:
    shipped = tomllib.loads((ROOT / "config" / "default.toml").read_text())["saml"]
    settings = load(**shipped)
    assert settings.enabled is False
    assert settings == load()
    assert settings.entity_id == PUBLIC + "/idp/metadata"
    assert settings.assertion_lifetime == 300.0 and settings.clock_skew == 180.0
    assert settings.metadata_cache_dir == "/srv/instance/saml-metadata"
    assert settings.organization_url == PUBLIC
    assert settings.display_name == {"fr": "Université Exemple", "en": "Université Exemple"}
    assert set(settings.rules.policies) == {
        "minimal",
        "research-and-scholarship",
        "code-of-conduct",
    }
    assert settings.rules.default == "minimal"


def test_built_in_categories_pick_the_built_in_policies() -> None:
    rules = load().rules

    def policy(*categories: str) -> str:
        return rules.policy_for(ServiceProvider("https://sp.example/", "x", "f", categories)).name

    assert policy() == "minimal"
    assert policy(RESEARCH_AND_SCHOLARSHIP) == "research-and-scholarship"
    assert policy(CODE_OF_CONDUCT_V1) == policy(CODE_OF_CONDUCT_V2) == "code-of-conduct"
    rs = rules.policies["research-and-scholarship"]
    assert {"eduPersonPrincipalName", "mail", "displayName", "givenName", "sn"} <= set(
        rs.attributes
    )
    assert rules.policies["code-of-conduct"].requested_only
    assert "supannEtuId" not in rules.policies["code-of-conduct"].attributes
    assert rules.policies["minimal"].attributes == ("eduPersonScopedAffiliation", "pairwise-id")


def test_enabled_needs_keys_scope_and_a_salt(keys: dict[str, str]) -> None:
    settings = load(**enabled(keys))
    assert settings.enabled and settings.signing is not None
    assert settings.encryption == settings.signing == settings.metadata_signing
    assert settings.salt == SALT.encode() and not settings.stand_in_salt
    with pytest.raises(ConfigError) as caught:
        load(enabled=True, scope="univ-exemple.fr", salt=SALT)
    assert key_of(caught) == "saml.key_file"
    with pytest.raises(ConfigError) as caught:
        load(**{**enabled(keys), "scope": ""})
    assert key_of(caught) == "saml.scope"
    with pytest.raises(ConfigError) as caught:
        load(**{**enabled(keys), "salt": ""})
    assert key_of(caught) == "saml.salt" and "CAS_SAML__SALT" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        load(**{**enabled(keys), "salt": "short"})
    assert key_of(caught) == "saml.salt"


@pytest.mark.parametrize("mode", ["test", "demo"])
def test_demo_and_test_modes_fall_back_to_the_published_salt(
    keys: dict[str, str], mode: str
) -> None:
    settings = load(mode, **{**enabled(keys), "salt": ""})
    assert settings.salt == TEST_ONLY_SALT and settings.stand_in_salt
    assert load(mode, **{**enabled(keys), "salt": "short"}).salt == b"short"


def test_the_salt_comes_from_cas_saml__salt(tmp_path: Path) -> None:
    raw = load_raw(None, {"CAS_SAML__SALT": SALT, "CAS_SAML__ENABLED": "false"})
    assert raw["saml"]["salt"] == SALT
    settings = load_saml_settings(raw, public_url=PUBLIC, mode="production")
    assert settings.salt == SALT.encode()


def test_key_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "idp.key").write_text("k")
    (folder / "idp.crt").write_text("c")
    (folder / "fed.pem").write_text("c")
    (folder / "site.toml").write_text(
        '[saml]\nenabled = true\nscope = "univ-exemple.fr"\nkey_file = "idp.key"\n'
        'cert_file = "idp.crt"\nsp_files = ["sps/*.xml"]\n'
        '[[saml.federations]]\nname = "renater"\nurl = "https://fed.example/md.xml"\n'
        'cert_file = "fed.pem"\n'
    )
    raw = load_raw(folder / "site.toml", {"CAS_SAML__SALT": SALT})
    settings = load_saml_settings(raw, public_url=PUBLIC, mode="production")
    assert settings.signing is not None
    assert settings.signing.key_file == str(folder / "idp.key")
    assert settings.sp_files == (str(folder / "sps" / "*.xml"),)
    assert settings.federations[0].cert_file == str(folder / "fed.pem")
    assert settings.federations[0].refresh_interval == 3600.0


def test_a_policy_table_adds_or_replaces_and_rules_name_policies(keys: dict[str, str]) -> None:
    settings = load(
        policies={
            "ent": {
                "attributes": ["eduPersonPrincipalName", "supannEtuId"],
                "name_id_formats": ["persistent", "transient", EMAIL],
                "consent": True,
                "mfa_required": True,
            },
            "minimal": {"attributes": ["pairwise-id"]},
        },
        release={"https://ent.univ-exemple.fr/sp": "ent", "https://bad.example/": "refused"},
        categories={RESEARCH_AND_SCHOLARSHIP: "minimal"},
        default_policy="",
    )
    rules = settings.rules
    ent = rules.policies["ent"]
    assert ent.name_id_formats == (PERSISTENT, TRANSIENT, EMAIL)
    assert ent.consent and ent.mfa_required and ent.encrypt == "metadata"
    assert rules.policies["minimal"].attributes == ("pairwise-id",)
    assert rules.by_category[RESEARCH_AND_SCHOLARSHIP] == "minimal"
    assert rules.by_category[CODE_OF_CONDUCT_V2] == "code-of-conduct"  # built-in kept
    assert rules.default is None
    assert rules.describe(ServiceProvider("https://bad.example/", "b", "f")) == "refused"


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"enabled": "yes"}, "saml.enabled"),
        ({"nonsense": 1}, "saml.nonsense"),
        ({"assertion_lifetime": 0}, "saml.assertion_lifetime"),
        ({"assertion_lifetime": 86400}, "saml.assertion_lifetime"),
        ({"clock_skew": True}, "saml.clock_skew"),
        ({"entity_id": "not a uri"}, "saml.entity_id"),
        ({"scope": "univ exemple.fr"}, "saml.scope"),
        ({"scope": "localhost"}, "saml.scope"),
        ({"technical_contact": "nobody"}, "saml.technical_contact"),
        ({"organization_url": "ftp://x.example"}, "saml.organization_url"),
        ({"display_name": {"fr": ""}}, "saml.display_name.fr"),
        ({"sp_files": "one.xml"}, "saml.sp_files"),
        ({"key_file": "/k.pem"}, "saml.cert_file"),
        ({"encryption_cert_file": "/c.pem"}, "saml.encryption_key_file"),
        ({"attributes": {"nonsense": "x"}}, "saml.attributes.nonsense"),
        ({"attributes": {"pairwise-id": "uid"}}, "saml.attributes.pairwise-id"),
        ({"attributes": {"mail": ""}}, "saml.attributes.mail"),
        ({"policies": {"p": {"attributes": ["mail", "bogus"]}}}, "saml.policies.p.attributes[1]"),
        ({"policies": {"p": {"name_id_formats": ["x509"]}}}, "saml.policies.p.name_id_formats[0]"),
        ({"policies": {"p": {"name_id_formats": []}}}, "saml.policies.p.name_id_formats"),
        ({"policies": {"p": {"encrypt": "sometimes"}}}, "saml.policies.p.encrypt"),
        ({"policies": {"p": {"consent": "yes"}}}, "saml.policies.p.consent"),
        ({"policies": {"p": {"colour": "red"}}}, "saml.policies.p.colour"),
        ({"policies": {"Bad Name": {}}}, "saml.policies.Bad Name"),
        ({"policies": {"refused": {}}}, "saml.policies.refused"),
        ({"release": {"https://sp.example/": "nope"}}, 'saml.release."https://sp.example/"'),
        ({"release": {" https://sp.example/": "minimal"}}, 'saml.release." https://sp.example/"'),
        (
            {"categories": {RESEARCH_AND_SCHOLARSHIP: 3}},
            f'saml.categories."{RESEARCH_AND_SCHOLARSHIP}"',
        ),
        ({"default_policy": "nope"}, "saml.default_policy"),
        ({"federations": {"name": "x"}}, "saml.federations"),
        (
            {"federations": [{"name": "x", "url": "https://f.example/md"}]},
            "saml.federations[0].cert_file",
        ),
        (
            {"federations": [{"name": "X!", "url": "https://f.example/md", "cert_file": "c"}]},
            "saml.federations[0].name",
        ),
        (
            {"federations": [{"name": "x", "url": "file:///etc/passwd", "cert_file": "c"}]},
            "saml.federations[0].url",
        ),
        (
            {
                "federations": [
                    {"name": "x", "url": "https://f.example/md", "cert_file": "c"},
                    {"name": "x", "url": "https://g.example/md", "cert_file": "c"},
                ]
            },
            "saml.federations[1].name",
        ),
        (
            {
                "federations": [
                    {
                        "name": "x",
                        "url": "https://f.example/md",
                        "cert_file": "c",
                        "refresh_interval": 1,
                    }
                ]
            },
            "saml.federations[0].refresh_interval",
        ),
        (
            {
                "federations": [
                    {"name": "x", "url": "https://f.example/md", "cert_file": "c", "max_size": -1}
                ]
            },
            "saml.federations[0].max_size",
        ),
    ],
)
def test_a_bad_value_names_its_key(section: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(**section)
    assert key_of(caught) == key
    assert key in str(caught.value)


def test_missing_files_are_refused_only_when_enabled(keys: dict[str, str], tmp_path: Path) -> None:
    missing = {"key_file": str(tmp_path / "none.key"), "cert_file": keys["cert_file"]}
    assert load(**missing).signing is not None  # disabled: not read
    with pytest.raises(ConfigError) as caught:
        load(**enabled(missing))
    assert key_of(caught) == "saml.key_file"
    federation = {"name": "renater", "url": "https://f.example/md", "cert_file": "/none.pem"}
    with pytest.raises(ConfigError) as caught:
        load(**enabled(keys, federations=[federation]))
    assert key_of(caught) == "saml.federations[0].cert_file"


def test_the_attribute_map_merges_over_the_defaults() -> None:
    settings = load(attributes={"mail": "emailAddress", "supannEtablissement": "etab"})
    assert settings.attribute_map["mail"] == "emailAddress"
    assert settings.attribute_map["supannEtablissement"] == "etab"
    assert settings.attribute_map["displayName"] == "displayName"
    assert "pairwise-id" not in settings.attribute_map


def test_built_in_release_end_to_end_per_category() -> None:
    from cas_server.protocol.saml2 import identifiers as ids
    from cas_server.protocol.saml2.attributes import resolve

    settings = load()
    principal = {
        "mail": ("jean@univ-exemple.fr",),
        "displayName": ("Jean Dupont",),
        "givenName": ("Jean",),
        "sn": ("Dupont",),
        "eduPersonAffiliation": ("student",),
        "supannEtuId": ("2100",),
    }

    def released(*categories: str, requested: tuple[str, ...] = ()) -> set[str]:
        sp = ServiceProvider("https://sp.example/", "x", "f", categories, requested)
        names = settings.rules.released(sp, settings.rules.policy_for(sp))
        got = resolve(
            principal,
            settings.attribute_map,
            names,
            login="jdupont",
            scope="univ-exemple.fr",
            identifiers=ids.identifiers_for(b"s" * 32, sp.entity_id, "uuid-1", "univ-exemple.fr"),
        )
        return set(got)

    assert released() == {"eduPersonScopedAffiliation", "pairwise-id"}
    assert released(RESEARCH_AND_SCHOLARSHIP) == {
        "eduPersonPrincipalName",
        "mail",
        "displayName",
        "givenName",
        "sn",
        "eduPersonScopedAffiliation",
        "pairwise-id",
        "subject-id",
    }
    assert released(CODE_OF_CONDUCT_V2) == set()
    assert released(CODE_OF_CONDUCT_V1, requested=("mail", "supannEtuId", "pairwise-id")) == {
        "mail",
        "pairwise-id",
    }
