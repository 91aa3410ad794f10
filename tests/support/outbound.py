"""Real servers that receive what ``cas_server.outbound`` sends, for the tests to read.

* :class:`SmtpSink`: an aiosmtpd server on 127.0.0.1 that keeps what it
  receives; tests read the delivered mails and follow their links.
* :class:`SmsGateway`: a small HTTP server that records what the SMS
  backend posts, as an institution's gateway would receive it.

The fixtures ``smtp_sink`` and ``sms_gateway`` (``tests/conftest.py``) start and stop them.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import re
import threading
import time
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.ports import free_port

LINK_RE = re.compile(r"https?://\S+")
CODE_RE = re.compile(r"\b(\d{6})\b")


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
