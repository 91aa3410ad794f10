"""Real servers and a browser for the Sésame tests (fixtures: ``sesame_fixtures``).

* :class:`SmtpSink`: an aiosmtpd server on 127.0.0.1 that keeps what it
  receives; tests read the delivered mails and follow their links.
* :class:`SmsGateway`: a small HTTP server that records what the SMS
  backend posts, as an institution's gateway would receive it.
* :class:`SesameBrowser`: drives the pages like a browser (CSRF token,
  the accessible CAPTCHA question, language).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import re
import socket
import threading
import time
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.web.captcha_solver import answer_in as captcha_answer_in

ROOT = Path(__file__).resolve().parents[2]
CHARTERS = ROOT / "config" / "charters" / "charters.toml"
PUBLIC_URL = "https://cas.univ-test.fr"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
LINK_RE = re.compile(r"https?://\S+")
CODE_RE = re.compile(r"\b(\d{6})\b")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpSink:
    """Keeps every delivered message; ``delay`` makes it slow (T2)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.delay = 0.0
        self._cond = threading.Condition()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()
        return "250 OK"

    def wait(
        self, count: int = 1, timeout: float = 5.0, to: str | None = None
    ) -> list[EmailMessage]:
        """The messages (to ``to``, if given) once at least ``count`` have arrived."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in self.messages if to is None or to in str(m["To"])]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(found)} mail(s) to {to} after {timeout}s, wanted {count}"
                    )
                self._cond.wait(left)

    def delivered(self) -> list[EmailMessage]:
        with self._cond:
            return list(self.messages)


def body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def link_in(message: EmailMessage) -> str:
    links = [u for u in LINK_RE.findall(body(message)) if "/sesame/" in u]
    assert links, body(message)
    return links[0]


def code_in(text: str) -> str:
    match = CODE_RE.search(text)
    assert match, text
    return match.group(1)


class SmsGateway:
    """An HTTP SMS gateway that records each request (JSON body, auth header)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                data = json.loads(self.rfile.read(length) or b"{}")
                gateway.received.append(data)
                gateway.headers.append(dict(self.headers))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b'{"status":"queued"}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def wait(self, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.received)} SMS after {timeout}s, wanted {count}")
            time.sleep(0.02)
        return self.received


class SesameBrowser:
    def __init__(self, client: FlaskClient, lang: str = "fr") -> None:
        self.client = client
        self.lang = lang
        client.get(f"/login?lang={lang}")

    def get(self, url: str) -> TestResponse:
        return self.client.get(url)

    def page(self, url: str) -> tuple[str, dict[str, str]]:
        """GET a form (with the CAPTCHA as a question); its HTML and the hidden fields to send."""
        sep = "&" if "?" in url else "?"
        html = self.client.get(f"{url}{sep}captcha=question").get_data(as_text=True)
        return html, self.hidden(html)

    def hidden(self, html: str) -> dict[str, str]:
        fields: dict[str, str] = {}
        token = CSRF_RE.search(html)
        if token:
            fields["csrf_token"] = token.group(1)
        answer = captcha_answer_in(html)
        if answer is not None:
            fields["captcha"] = "question"
            fields["captcha_answer"] = answer
        return fields

    def submit(self, url: str, data: dict[str, str], action: str | None = None) -> TestResponse:
        """Load the form at ``url`` and post ``data`` (plus its hidden fields) to ``action``."""
        _, fields = self.page(url)
        return self.client.post(action or url, data={**fields, **data})

    def post(self, url: str, data: dict[str, str], html: str) -> TestResponse:
        """Post a form found in an already loaded page (CSRF from it)."""
        return self.client.post(url, data={**self.hidden(html), **data})


def drained(app: Flask, sink: SmtpSink | None = None) -> list[EmailMessage]:
    """Once every mail and SMS queued so far has been handed over: the mails delivered."""
    state = sesame_state(app)
    state.outbox.flush()
    state.sms.flush()
    return sink.delivered() if sink is not None else []


def without_csrf(html: str) -> str:
    return CSRF_RE.sub('name="csrf_token" value=""', html)


def sesame_state(app: Flask) -> Any:
    return app.extensions["sesame"]
