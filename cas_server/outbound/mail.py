"""Outgoing mail: messages sent in the background.

A message is rendered from a theme template by
:func:`cas_server.runtime.mail.render_message`. :class:`Outbox` hands it to a thread pool, so no
page ever waits for the SMTP server (T2). The same threads run the work a
self-service page does after its answer (:meth:`Outbox.later`: issue a
token, render and send), so that the answer's time does not depend on
whether the account exists. Links in messages are built from
``server.public_url``, never from the request (T3).

Backends: ``smtp`` (host, port, STARTTLS or implicit TLS, login) and
``console`` (the demo: each message is logged and kept, see
:class:`ConsoleLog`, and shown at ``/demo/outbox`` in demo mode).
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from ..settings.sesame import MailSettings

log = logging.getLogger(__name__)
KEPT = 50  # messages the console backend keeps


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    body: str


@dataclass(frozen=True)
class LoggedMessage:
    """A message the console backends kept: mail or SMS."""

    channel: str  # "mail" or "sms"
    to: str
    subject: str
    body: str
    at: float


class ConsoleLog:
    """The last messages of the console backends, in memory and optionally in a folder.

    The folder lets every worker of a multi-process demo show every message.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._messages: deque[LoggedMessage] = deque(maxlen=KEPT)
        self._lock = threading.Lock()
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def add(self, message: LoggedMessage) -> None:
        with self._lock:
            self._messages.append(message)
        if self.directory is not None:
            name = f"{message.at:.6f}-{threading.get_ident()}.json"
            try:
                (self.directory / name).write_text(json.dumps(asdict(message)), encoding="utf-8")
                for old in sorted(self.directory.glob("*.json"))[:-KEPT]:
                    old.unlink(missing_ok=True)
            except OSError:
                log.exception("could not keep the message in %s", self.directory)

    def latest(self) -> list[LoggedMessage]:
        """Newest first."""
        if self.directory is None:
            with self._lock:
                return list(reversed(self._messages))
        messages = []
        for path in sorted(self.directory.glob("*.json"), reverse=True)[:KEPT]:
            try:
                messages.append(LoggedMessage(**json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, TypeError):
                continue
        return messages


class Pending:
    """Futures not finished yet, so that a caller (a test, the CLI) can wait for them."""

    def __init__(self) -> None:
        self._futures: list[Future[bool]] = []
        self._lock = threading.Lock()

    def add(self, future: Future[bool]) -> Future[bool]:
        with self._lock:
            self._futures = [f for f in self._futures if not f.done()]
            self._futures.append(future)
        return future

    def wait(self, timeout: float) -> None:
        """Until nothing is left, including what finished work queued meanwhile
        (a page's background work queues its mail), or ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                self._futures = [f for f in self._futures if not f.done()]
                futures = list(self._futures)
            left = deadline - time.monotonic()
            if not futures or left <= 0:
                return
            wait(futures, left)


class Transport(Protocol):
    def deliver(self, message: EmailMessage) -> None: ...


class SmtpTransport:
    """One SMTP connection per message: simple, and nothing stale between rare mails."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings

    def deliver(self, message: EmailMessage) -> None:
        s = self.settings
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.security == "ssl":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        with smtp:
            if s.security == "starttls":
                smtp.starttls(context=context)
            if s.username:
                smtp.login(s.username, s.password)
            smtp.send_message(message)


class ConsoleTransport:
    def __init__(self, console: ConsoleLog) -> None:
        self.console = console

    def deliver(self, message: EmailMessage) -> None:
        body = message.get_content() if not message.is_multipart() else ""
        log.info("mail (console backend) to %s: %s\n%s", message["To"], message["Subject"], body)
        self.console.add(
            LoggedMessage("mail", str(message["To"]), str(message["Subject"]), body, time.time())
        )


class Outbox:
    """Sends mail in the background; :meth:`send` and :meth:`later` return at once."""

    def __init__(self, settings: MailSettings, public_url: str, transport: Transport) -> None:
        self.settings = settings
        self.transport = transport
        self.domain = urlsplit(public_url).hostname or "localhost"
        self.executor = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="mail")
        self.pending = Pending()

    def build(self, message: Message) -> EmailMessage:
        email = EmailMessage()
        local, _, domain = self.settings.from_address.rpartition("@")
        email["From"] = Address(self.settings.from_name, local, domain)
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False)
        email["Message-ID"] = make_msgid(domain=self.domain)
        email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
        email.set_content(message.body, charset="utf-8")
        return email

    def send(self, message: Message) -> Future[bool]:
        email = self.build(message)
        return self.pending.add(self.executor.submit(self._deliver, email))

    def _deliver(self, email: EmailMessage) -> bool:
        try:
            self.transport.deliver(email)
        except (OSError, smtplib.SMTPException) as exc:
            # The address is personal data: log the failure, not the recipient.
            log.error("mail %s not sent: %s: %s", email["Message-ID"], type(exc).__name__, exc)
            return False
        return True

    def later(self, work: Callable[[], object], what: str) -> Future[bool]:
        """Run ``work`` on the mail threads; :meth:`flush` waits for it too.

        Nobody waits for the result, so a failure is logged here (with
        ``what``, never the work's data: it may hold an address) and the
        future says False; the page has long answered.
        """
        return self.pending.add(self.executor.submit(self._run, work, what))

    def _run(self, work: Callable[[], object], what: str) -> bool:
        try:
            work()
        except Exception:
            log.exception("background work failed: %s", what)
            return False
        return True

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every message sent so far has been handed over (or failed),
        and the background work queued so far has run, with the mail it sent."""
        self.pending.wait(timeout)

    def close(self) -> None:
        # Background work still queued may send mail: let it, then stop.
        self.flush()
        self.executor.shutdown(wait=True)


def make_outbox(settings: MailSettings, public_url: str, console: ConsoleLog) -> Outbox:
    transport: Transport
    if settings.backend == "console":
        transport = ConsoleTransport(console)
    else:
        transport = SmtpTransport(settings)
    return Outbox(settings, public_url, transport)
