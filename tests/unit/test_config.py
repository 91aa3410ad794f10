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
