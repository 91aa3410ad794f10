"""The "temporarily unavailable" page renders without the database (a failover, #17).

A signed-in person's page loads their account through Flask-Login; when the
database is away, the error page must not try again and turn the 503 into a 500.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError

from tests.support.profile import ProfileBrowser, person


class DriverError(Exception):
    pass


def test_a_signed_in_page_during_a_database_outage_is_a_503(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    person(app)
    browser = ProfileBrowser(client, "en")
    browser.sign_in()
    assert client.get("/profile/").status_code == 200

    def down(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("SELECT", None, DriverError("server closed the connection"))

    accounts = app.extensions["cas"].accounts
    monkeypatch.setattr(accounts, "get", down)
    answer = client.get("/profile/")
    assert answer.status_code == 503
    assert "Internal Server Error" not in answer.get_data(as_text=True)
