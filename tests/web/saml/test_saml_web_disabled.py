"""Without ``[saml] enabled`` (the default) nothing of the identity provider exists."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.app import make_account, through_cas


@pytest.fixture
def app_overrides() -> dict[str, dict[str, Any]]:
    return {}


def test_no_idp_pages_no_consents_no_warning(app: Flask, client: FlaskClient) -> None:
    assert app.extensions["cas"].saml is None
    assert app.extensions["cas"].services.get("saml-idp") is None
    for url in ("/idp/metadata", "/idp/sso", "/idp/slo", "/idp/resume"):
        assert client.get(url).status_code == 404
    assert client.get("/health").get_json() == {"status": "ok"}
    make_account(app)
    through_cas(client, "/profile/", "alice")
    assert client.get("/profile/consents").status_code == 404
    assert "Services and consents" not in client.get("/profile/").get_data(as_text=True)
    assert client.get("/logout").status_code == 200
