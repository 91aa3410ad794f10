"""Single logout as the services see it: their logout URL, the messages they receive.

Shared by ``tests/web/cas/test_single_logout.py`` (back channel) and
``tests/web/cas/test_front_channel_logout.py``.
"""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from flask import Flask
from flask.testing import FlaskClient
from lxml import etree  # type: ignore[import-untyped]

from tests.support.endpoints import LocalEndpoint

SAMLP2 = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML2 = "urn:oasis:names:tc:SAML:2.0:assertion"
WAIT_SECONDS = 5.0


class LogoutEndpoint(LocalEndpoint):
    """A service's logout URL on 127.0.0.1: records each POSTed ``logoutRequest``."""

    def __init__(self, sleep: float = 0.0) -> None:
        self.received: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode("utf-8"))
                outer.received.extend(form.get("logoutRequest", []))
                if sleep:
                    outer.release.wait(sleep)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}/logout"

    def wait_for(self, count: int, timeout: float = WAIT_SECONDS) -> list[str]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.received) >= count, f"{len(self.received)} logout request(s) received"
        return list(self.received)


def validate(client: FlaskClient, service: str, ticket: str) -> None:
    response = client.get("/serviceValidate", query_string={"service": service, "ticket": ticket})
    assert response.status_code == 200
    assert b"<cas:authenticationSuccess>" in response.data, response.data


def sso_ticket(client: FlaskClient, service: str) -> str:
    response = client.get("/login", query_string={"service": service})
    assert response.status_code == 302, response.status_code
    return str(response.headers["Location"].split("ticket=", 1)[1])


def parse(message: str) -> tuple[str, str]:
    """(NameID, SessionIndex) of a LogoutRequest, after checking its shape."""
    root = etree.fromstring(message.encode("utf-8"))
    assert root.tag == f"{{{SAMLP2}}}LogoutRequest"
    assert root.get("Version") == "2.0"
    assert root.get("ID") and root.get("IssueInstant")
    name_id = root.findtext(f"{{{SAML2}}}NameID")
    session_index = root.findtext(f"{{{SAMLP2}}}SessionIndex")
    assert name_id is not None and session_index is not None
    return name_id, session_index


def drain(app: Flask) -> None:
    """Wait until every queued logout request has been sent (bounded by the timeouts)."""
    app.extensions["cas"].single_logout.executor.shutdown(wait=True)
