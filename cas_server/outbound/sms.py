"""Outgoing SMS through the institution's HTTP gateway, in the background.

The request body comes from ``[sms] body_template`` with ``{to}`` and
``{message}`` replaced (escaped for JSON or form encoding); credentials are
HTTP Basic or a bearer token from the environment. The daily budget (T8)
is enforced by the caller with the shared counters, before anything is
queued, so a flood costs nothing past it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol
from urllib.parse import quote_plus

import requests

from ..settings.sesame import SmsSettings
from .mail import ConsoleLog, LoggedMessage, Pending

log = logging.getLogger(__name__)


class SmsBackend(Protocol):
    def deliver(self, to: str, text: str) -> bool: ...


def render_body(template: str, content_type: str, to: str, text: str) -> str:
    def escape(value: str) -> str:
        if "json" in content_type:
            return json.dumps(value)[1:-1]
        if "x-www-form-urlencoded" in content_type:
            return quote_plus(value)
        return value

    return template.replace("{to}", escape(to)).replace("{message}", escape(text))


class HttpSmsGateway:
    def __init__(self, settings: SmsSettings) -> None:
        self.settings = settings
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False
            self._local.session = session
        return session

    def deliver(self, to: str, text: str) -> bool:
        s = self.settings
        headers = {"Content-Type": s.content_type}
        if s.token:
            headers["Authorization"] = f"Bearer {s.token}"
        auth = (s.username, s.password) if s.username else None
        body = render_body(s.body_template, s.content_type, to, text)
        try:
            response = self._session().post(
                s.url,
                data=body.encode("utf-8"),
                headers=headers,
                auth=auth,
                timeout=s.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            log.error("SMS gateway unreachable: %s", type(exc).__name__)
            return False
        if response.status_code >= 300:
            log.error("SMS gateway answered %s", response.status_code)
            return False
        return True


class ConsoleSms:
    def __init__(self, console: ConsoleLog) -> None:
        self.console = console

    def deliver(self, to: str, text: str) -> bool:
        log.info("SMS (console backend) to %s: %s", to, text)
        self.console.add(LoggedMessage("sms", to, "SMS", text, time.time()))
        return True


class SmsSender:
    """Queues SMS for the backend; :meth:`send` returns at once."""

    def __init__(self, settings: SmsSettings, backend: SmsBackend | None) -> None:
        self.settings = settings
        self.backend = backend
        self.executor = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="sms")
        self.pending = Pending()

    @property
    def enabled(self) -> bool:
        return self.backend is not None

    def send(self, to: str, text: str) -> Future[bool] | None:
        if self.backend is None:
            return None
        text = text[: self.settings.max_length]
        return self.pending.add(self.executor.submit(self.backend.deliver, to, text))

    def flush(self, timeout: float = 30.0) -> None:
        self.pending.wait(timeout)

    def close(self) -> None:
        self.executor.shutdown(wait=True)


def make_sms_sender(settings: SmsSettings, console: ConsoleLog) -> SmsSender:
    backend: SmsBackend | None = None
    if settings.backend == "http":
        backend = HttpSmsGateway(settings)
    elif settings.backend == "console":
        backend = ConsoleSms(console)
    return SmsSender(settings, backend)
