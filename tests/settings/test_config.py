"""Configuration layering and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from cas_server.settings.server import ConfigError, load_settings

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
    from cas_server.settings.infrastructure import load_infra_settings
    from cas_server.settings.server import load_raw

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


# --- issue 12 item 6: environment overrides parsed by the key's type ----------------------


def test_cookies_secure_from_the_environment() -> None:
    """The default is the string "auto", yet true and false are booleans there."""
    for raw, expected in (("true", True), ("FALSE", False), ("auto", None), ("1", True)):
        settings = load_settings(environ={**TEST_SECRET, "CAS_COOKIES__SECURE": raw})
        assert settings.cookie_secure is expected, raw
    with pytest.raises(ConfigError) as err:
        load_settings(environ={**TEST_SECRET, "CAS_COOKIES__SECURE": "sometimes"})
    assert "CAS_COOKIES__SECURE" in str(err.value) and "auto" in str(err.value)


def test_every_type_from_the_environment() -> None:
    settings = load_settings(
        environ={
            **TEST_SECRET,
            "CAS_LOGIN__REMEMBER_ME": "true",  # bool
            "CAS_DATABASE__POOL_SIZE": "9",  # int
            "CAS_HTTP__READ_TIMEOUT": "2.5",  # float
            "CAS_HTTP__CONNECT_TIMEOUT": "4",  # float given as a whole number
            "CAS_SERVER__INSTITUTION_NAME": "Université X, site 2",  # string, commas kept
            "CAS_SERVICES__CAS2_ATTRIBUTES": "on",
        }
    )
    assert settings.login.remember_me is True
    assert settings.database_pool_size == 9
    assert settings.read_timeout == 2.5
    assert settings.connect_timeout == 4.0 and isinstance(settings.connect_timeout, float)
    assert settings.institution_name == "Université X, site 2"
    assert settings.cas2_attributes is True


@pytest.mark.parametrize(
    "raw",
    ['["en", "fr"]', '["en","fr"]', "en,fr", " en , fr ", "['en', 'fr']"],
)
def test_lists_from_the_environment(raw: str) -> None:
    """A TOML or JSON array, or comma-separated values."""
    settings = load_settings(
        environ={**TEST_SECRET, "CAS_I18N__LANGUAGES": raw, "CAS_I18N__DEFAULT_LANGUAGE": "en"}
    )
    assert settings.languages == ("en", "fr")


def test_an_empty_list_from_the_environment() -> None:
    from cas_server.settings.server import load_raw

    for raw in ("", "[]"):
        data = load_raw(environ={**TEST_SECRET, "CAS_LDAP__URLS": raw})
        assert data["ldap"]["urls"] == []


def test_a_table_from_the_environment() -> None:
    from cas_server.settings.server import load_raw

    data = load_raw(environ={"CAS_LDAP__ATTRIBUTES": '{mail = "mail", cn = "cn"}'})
    assert data["ldap"]["attributes"] == {"mail": "mail", "cn": "cn"}
    data = load_raw(environ={"CAS_LDAP__ATTRIBUTES": '{"mail": "mail"}'})
    assert data["ldap"]["attributes"] == {"mail": "mail"}


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("CAS_DATABASE__POOL_SIZE", "five", "an integer"),
        ("CAS_DATABASE__POOL_SIZE", "5.5", "an integer"),
        ("CAS_DATABASE__POOL_SIZE", "true", "an integer"),
        ("CAS_HTTP__READ_TIMEOUT", "soon", "a number"),
        ("CAS_HTTP__READ_TIMEOUT", "nan", "a number"),
        ("CAS_HTTP__READ_TIMEOUT", "inf", "a number"),
        ("CAS_LOGIN__REMEMBER_ME", "perhaps", "true or false"),
        ("CAS_I18N__LANGUAGES", '["fr", 3]', "list of strings"),
        ("CAS_I18N__LANGUAGES", '["fr"', "array"),
        ("CAS_LDAP__ATTRIBUTES", "mail=mail", "table"),
        ("CAS_COOKIES__SECURE", "yes please", '"auto", true or false'),
    ],
)
def test_a_bad_value_names_the_variable(name: str, raw: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(environ={**TEST_SECRET, name: raw})
    message = str(err.value)
    assert name in message and expected in message and repr(raw) in message
    assert err.value.key == name


def test_an_unknown_key_names_the_variable() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(environ={**TEST_SECRET, "CAS_LOGIN__REMEMBER": "true"})
    assert err.value.key == "CAS_LOGIN__REMEMBER"
    assert "[login] remember" in str(err.value) and "config/default.toml" in str(err.value)


def test_the_type_comes_from_the_defaults_not_the_site_file(tmp_path: Path) -> None:
    """A site file that wrote a number as a string does not make the key a string."""
    deployment = tmp_path / "site.toml"
    deployment.write_text('[database]\npool_size = "7"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(deployment, environ={**TEST_SECRET, "CAS_DATABASE__POOL_SIZE": "x"})
    assert err.value.key == "CAS_DATABASE__POOL_SIZE"
    settings = load_settings(deployment, environ={**TEST_SECRET, "CAS_DATABASE__POOL_SIZE": "8"})
    assert settings.database_pool_size == 8
