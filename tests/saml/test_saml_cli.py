"""``cas-server saml refresh``, ``sps`` and ``keygen``."""

from __future__ import annotations

import stat
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask

from tests.saml.conftest import FEDERATION_URL, FakeHttp
from tests.support.saml_keys import aggregate, key_pair, sp_metadata, write_sp_metadata

LOCAL_SP = "https://local.example.org/sp"
FED_SP = "https://fed-sp.example.net/shibboleth"
RS = "http://refeds.org/category/research-and-scholarship"


@pytest.fixture
def app_overrides(tmp_path: Path) -> dict[str, dict[str, Any]]:
    local = write_sp_metadata(
        tmp_path / "sps" / "local.xml", LOCAL_SP, "https://local.example.org/acs"
    )
    return {
        "saml": {
            "enabled": True,
            "key_file": key_pair("idp").key_file,
            "cert_file": key_pair("idp").cert_file,
            "scope": "example.org",
            "metadata_cache_dir": str(tmp_path / "cache"),
            "sp_files": [str(local)],
            "federations": [
                {
                    "name": "renater",
                    "url": FEDERATION_URL,
                    "cert_file": key_pair("federation").cert_file,
                }
            ],
            "release": {LOCAL_SP: "research-and-scholarship"},
        }
    }


@pytest.fixture
def http(app: Flask) -> FakeHttp:
    fake = FakeHttp()
    app.extensions["cas"].saml.sources.http_get = fake
    return fake


def test_refresh_then_sps(app: Flask, runner: Any, http: FakeHttp) -> None:
    document = sp_metadata(
        FED_SP, "https://fed-sp.example.net/acs", keys="sp2", entity_categories=[RS]
    )
    http.documents[FEDERATION_URL] = aggregate([document], valid_until=time.time() + 86400)
    result = runner.invoke(args=["saml", "refresh"])
    assert result.exit_code == 0, result.output
    assert "federation renater: ok, 1 SP(s)" in result.output
    assert "local.xml: ok, 1 SP(s)" in result.output
    listed = runner.invoke(args=["saml", "sps"])
    assert listed.exit_code == 0, listed.output
    lines = [line.split("\t") for line in listed.output.splitlines() if "\t" in line]
    rows = {row[0]: row for row in lines}
    assert rows[LOCAL_SP][3] == "research-and-scholarship"
    assert rows[FED_SP][2:] == ["federation:renater", "research-and-scholarship"]
    assert "2 service provider(s)" in listed.output
    only = runner.invoke(args=["saml", "sps", "--source", "renater"])
    assert FED_SP in only.output and LOCAL_SP not in only.output


def test_failed_refresh_exits_1(app: Flask, runner: Any, http: FakeHttp) -> None:
    http.documents[FEDERATION_URL] = aggregate(
        [], valid_until=time.time() + 86400, signed_by="stranger"
    )
    result = runner.invoke(args=["saml", "refresh", "--source", "renater"])
    assert result.exit_code == 1
    assert "FAILED" in result.output and "pinned" in result.output
    unknown = runner.invoke(args=["saml", "refresh", "--source", "nope"])
    assert unknown.exit_code == 2 and "renater" in unknown.output


def test_keygen_makes_a_private_pair(runner: Any, tmp_path: Path) -> None:
    target = tmp_path / "keys"
    result = runner.invoke(
        args=["saml", "keygen", str(target), "--bits", "2048", "--cn", "idp.example.org"]
    )
    assert result.exit_code == 0, result.output
    key_file, cert_file = target / "saml-signing.key", target / "saml-signing.crt"
    for path in (key_file, cert_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    assert "idp.example.org" in cert.subject.rfc4514_string()
    again = runner.invoke(args=["saml", "keygen", str(target), "--bits", "2048"])
    assert again.exit_code != 0 and "not overwritten" in again.output


def test_saml_off(tmp_path: Path, db_path: Path) -> None:
    from cas_server import create_app
    from tests.support.app import test_overrides
    from tests.support.cli import cli_runner

    application = create_app(overrides=test_overrides(db_path), environ={})
    result = cli_runner(application).invoke(args=["saml", "sps"])
    assert result.exit_code != 0 and "off" in result.output
    application.extensions["cas"].single_logout.executor.shutdown(wait=True)
    application.extensions["cas"].engine.dispose()
