"""Fixtures of the web tests that send mail and SMS (Sésame, profile, console).

The SMTP sink and the SMS gateway themselves are ``tests/conftest.py``'s
``smtp_sink`` and ``sms_gateway``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.outbound import SmsGateway, SmtpSink
from tests.support.sesame import CHARTERS, PUBLIC_URL, sesame_state


@pytest.fixture
def sesame_overrides(smtp_sink: SmtpSink, sms_gateway: SmsGateway) -> dict[str, dict[str, Any]]:
    """Every path on, real SMTP and SMS servers, the charters, the public URL."""
    return {
        "server": {"public_url": PUBLIC_URL},
        "mail": {
            "backend": "smtp",
            "host": "127.0.0.1",
            "port": smtp_sink.port,
            "from_address": "sesame@univ-test.fr",
            "from_name": "Sésame",
            "timeout": 5.0,
        },
        "sms": {
            "backend": "http",
            "url": sms_gateway.url,
            "username": "cas",
            "password": "gateway-secret",
            "daily_budget": 50,
        },
        "sesame": {"password_paths": ["joker", "email", "sms", "temporary", "facts"]},
        "charters": {"path": str(CHARTERS)},
    }


@pytest.fixture
def sesame_client(app: Flask) -> Iterator[FlaskClient]:
    """The test client; the mail and SMS threads are drained when the test ends."""
    yield app.test_client()
    sesame_state(app).close()
