"""The SAML SPs in the console's services view, and the metadata warning of /health (#18)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.console import console_client
from tests.support.ports import free_port
from tests.support.saml_keys import key_pair
from tests.web.saml.saml_web_support import SP1, SP2, SP3, saml_overrides

TOKEN = "health-token-" + "h" * 24


@pytest.fixture
def app_overrides(sp_files: list[str], tmp_path: Path) -> dict[str, dict[str, Any]]:
    overrides = saml_overrides(sp_files, tmp_path)
    overrides["saml"]["federations"] = [
        {
            "name": "renater",
            "url": f"http://127.0.0.1:{free_port()}/renater.xml",  # nobody listens
            "cert_file": key_pair("federation").cert_file,
        }
    ]
    overrides["health"] = {"token": TOKEN}
    return overrides


def test_the_services_view_lists_the_saml_sps(app: Flask) -> None:
    client = console_client(app)
    page = client.get("/admin/services")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "SAML service providers" in html
    for entity_id in (SP1, SP2, SP3):
        assert entity_id in html
    assert "research-and-scholarship" in html and "consented" in html
    assert "file:" in html
    # The two built-in CAS services of the SAML sign-ins are listed with the others.
    assert "saml-idp" in html and "saml-idp-mfa" in html


def test_a_failed_federation_refresh_is_a_warning_not_an_outage(
    app: Flask, client: FlaskClient
) -> None:
    app.extensions["cas"].saml.sources.refresh("renater")
    anonymous = client.get("/health")
    assert anonymous.status_code == 200
    assert anonymous.get_json() == {"status": "ok", "warnings": ["saml_metadata"]}
    detailed = client.get("/health", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    [renater] = [s for s in detailed["saml_metadata"] if s["name"] == "renater"]
    assert renater["ok"] is False and renater["kind"] == "federation" and renater["error"]
    assert all(s["ok"] for s in detailed["saml_metadata"] if s["kind"] == "file")
