"""Configuration layering and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from cas_server.config import ConfigError, load_settings

TEST_SECRET = {"CAS_SECRET_KEY": "k" * 40}


def test_defaults_refuse_the_default_secret_in_production() -> None:
    with pytest.raises(ConfigError, match=r"server\.secret_key"):
        load_settings(environ={})


def test_demo_mode_accepts_the_default_secret() -> None:
    settings = load_settings(environ={"CAS_SERVER__MODE": "demo"})
    assert settings.mode == "demo"
    assert settings.lifetimes.service_ticket == 10


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    deployment = tmp_path / "site.toml"
    deployment.write_text(
        '[server]\npublic_url = "https://cas.univ.example/"\n'
        "[tickets]\nservice_ticket_ttl = 20\n"
        '[database]\nurl = "sqlite:///data/cas.db"\n'
        '[services]\npaths = ["svc"]\n'
    )
    settings = load_settings(
        deployment,
        environ={
            **TEST_SECRET,
            "CAS_TICKETS__PROXY_TICKET_TTL": "7",
            "CAS_I18N__LANGUAGES": "fr,en",
        },
        overrides={"passwords": {"bcrypt_cost": 13}},
    )
    assert settings.public_url == "https://cas.univ.example"
    assert settings.lifetimes.service_ticket == 20
    assert settings.lifetimes.proxy_ticket == 7
    assert settings.bcrypt_cost == 13
    # Relative paths are relative to the file that names them.
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'cas.db'}"
    assert settings.service_paths == (tmp_path / "svc",)


def test_config_file_named_by_environment(tmp_path: Path) -> None:
    deployment = tmp_path / "site.toml"
    deployment.write_text('[server]\ninstitution_name = "Université X"\n')
    settings = load_settings(environ={**TEST_SECRET, "CAS_SERVER_CONFIG": str(deployment)})
    assert settings.institution_name == "Université X"


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        ({"CAS_TICKETS__SERVICE_TICKET_TTL": "soon"}, "CAS_TICKETS__SERVICE_TICKET_TTL"),
        ({"CAS_TICKETS__SERVICE_TICKET_TTL": "0"}, "tickets.service_ticket_ttl"),
        ({"CAS_NOPE__KEY": "1"}, "CAS_NOPE__KEY"),
        ({"CAS_SERVER__MODE": "party"}, "server.mode"),
        ({"CAS_PASSWORDS__BCRYPT_COST": "3"}, "passwords.bcrypt_cost"),
        ({"CAS_I18N__DEFAULT_LANGUAGE": "de"}, "i18n.default_language"),
        ({"CAS_SERVER__PUBLIC_URL": "cas.example.org"}, "server.public_url"),
        ({"CAS_HTTP__CA_BUNDLE": "/no/such/file.pem"}, "http.ca_bundle"),
        ({"CAS_SECRET_KEY": "short"}, "server.secret_key"),
    ],
)
def test_bad_values_name_their_key(environ: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(environ={**TEST_SECRET, **environ})
    assert key in str(err.value)


def test_broken_toml_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\nmode=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken, environ=TEST_SECRET)
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "missing.toml", environ=TEST_SECRET)


# --- security review, issue 11 ---------------------------------------------------------


@pytest.mark.parametrize(
    ("public_url", "secure", "request_is_secure", "cookies", "hsts"),
    [
        # "auto" and an https public URL: TLS ends at a proxy, the request looks plain.
        ("https://cas.univ.example", "auto", False, True, True),
        ("https://cas.univ.example", "auto", True, True, True),
        # "auto" and a plain public URL (a laptop): as the request came.
        ("http://127.0.0.1:8080", "auto", False, False, False),
        ("http://127.0.0.1:8080", "auto", True, True, True),
        # Forced either way; false keeps HSTS off unless the request itself is HTTPS.
        ("https://cas.univ.example", False, False, False, False),
        ("https://cas.univ.example", False, True, False, True),
        ("http://127.0.0.1:8080", True, False, True, False),
    ],
)
def test_secure_cookies_and_hsts_follow_the_public_url(
    public_url: str, secure: object, request_is_secure: bool, cookies: bool, hsts: bool
) -> None:
    settings = load_settings(
        environ=TEST_SECRET,
        overrides={"server": {"public_url": public_url}, "cookies": {"secure": secure}},
    )
    assert settings.secure_cookies(request_is_secure) is cookies
    assert settings.hsts(request_is_secure) is hsts


def _ldap_infra(mode: str, urls: list[str], **ldap: object) -> object:
    from cas_server.config import load_raw
    from cas_server.infra import load_infra_settings

    raw = load_raw(
        environ={},
        overrides={
            "server": {"mode": mode},
            "auth": {"sources": ["ldap"]},
            "ldap": {"urls": urls, "base_dn": "dc=univ,dc=example", **ldap},
        },
    )
    return load_infra_settings(raw)


@pytest.mark.parametrize(
    "urls", [["ldap://ldap.univ.example"], ["ldaps://ldap1.univ.example", "LDAP://ldap2:389"]]
)
def test_plain_ldap_is_refused_in_production(urls: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        _ldap_infra("production", urls)
    assert err.value.key == "ldap.urls"
    assert "start_tls" in str(err.value) and "allow_plaintext" in str(err.value)


@pytest.mark.parametrize(
    ("mode", "urls", "extra"),
    [
        ("production", ["ldaps://ldap.univ.example"], {}),
        ("production", ["ldap://ldap.univ.example"], {"start_tls": True}),
        ("production", ["ldap://127.0.0.1"], {"allow_plaintext": True}),
        # Tests (a throwaway slapd), the demo and debugging keep plain ldap://.
        ("test", ["ldap://127.0.0.1:3890"], {}),
        ("demo", ["ldap://127.0.0.1:3890"], {}),
        ("debug", ["ldap://127.0.0.1:3890"], {}),
    ],
)
def test_ldap_transport_that_is_accepted(
    mode: str, urls: list[str], extra: dict[str, object]
) -> None:
    infra = _ldap_infra(mode, urls, **extra)
    assert infra.ldap.urls == tuple(urls)  # type: ignore[attr-defined]


def test_allow_plaintext_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError) as err:
        _ldap_infra("production", ["ldap://ldap.univ.example"], allow_plaintext="yes")
    assert err.value.key == "ldap.allow_plaintext"
