"""Failover under traffic: two gunicorn nodes on Redis under Sentinel, or on a PostgreSQL pair.

Like ``tests/multinode``: each node is ``gunicorn -c config/gunicorn.conf.py
wsgi:app`` (2 gthread workers) on its own port, all sharing one TOML. The
replicated servers come from :mod:`tests.support.ha`; a missing binary skips,
or fails under CI. The traffic (:class:`Traffic`) is a bounded stream of
sign-ins, SSO service tickets, validations and logouts from a few threads,
each request recorded with its time, outcome and latency; the tests kill a
server in the middle and check what was acknowledged afterwards.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

from tests.support.app import PASSWORD
from tests.support.html import csrf
from tests.support.http import new_session
from tests.support.nodes import SHARED_SECRET, Node, node_toml

APP = "https://app.example.org/"
TIMEOUT = 8.0  # per request: a hang would show as a timeout, never block the test
USERS = [f"ha{n:02d}" for n in range(8)]


def node_config(folder: Path, database_url: str, tickets: str, redis: str = "") -> Path:
    """The TOML every node shares; ``redis`` is the body of a [redis] section."""
    return node_toml(
        folder,
        secret=SHARED_SECRET,
        database_url=database_url,
        backend=tickets,
        ticket_ttl=300,
        extra=f'[mail]\nbackend = "console"\n[logging]\nformat = "json"\n{redis}\n',
    )


# --- the traffic ---------------------------------------------------------------------


@dataclass
class Event:
    at: float
    op: str
    ok: bool
    status: str  # HTTP status, CAS code, or the exception's name
    seconds: float


@dataclass
class Traffic:
    """Sign-ins, SSO tickets, validations, logouts (and optional extra steps) on every node."""

    nodes: list[Node]
    users: list[str]
    extra: Callable[[Traffic, int, requests.Session, Node], None] | None = None
    events: list[Event] = field(default_factory=list)
    validated: list[str] = field(default_factory=list)  # tickets that validated once
    pending: list[tuple[float, str]] = field(default_factory=list)  # issued, kept for later
    ended: list[tuple[float, str]] = field(default_factory=list)  # TGCs of acknowledged logouts
    odd: list[str] = field(default_factory=list)  # bodies of 500s, for a failure message
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, op: str, started: float, ok: bool, status: str) -> None:
        with self.lock:
            self.events.append(Event(started, op, ok, status, time.monotonic() - started))

    def request(
        self,
        op: str,
        session: requests.Session,
        method: str,
        url: str,
        expect: tuple[int, ...] = (200,),
        **kw: object,
    ) -> requests.Response | None:
        """One request; a success is one of the ``expect`` statuses."""
        started = time.monotonic()
        try:
            response = session.request(
                method,
                url,
                allow_redirects=False,
                timeout=TIMEOUT,
                **kw,  # type: ignore[arg-type]
            )
        except requests.RequestException as exc:
            self.record(op, started, False, type(exc).__name__)
            return None
        self.record(op, started, response.status_code in expect, str(response.status_code))
        if response.status_code >= 500 and response.status_code != 503:
            self.odd.append(f"{op} {response.status_code}: {response.text[:300]!r}")
        return response

    def sign_in(self, session: requests.Session, node: Node, login: str) -> str | None:
        """A service ticket from a fresh sign-in (form, then POST)."""
        form = self.request(
            "login_form", session, "GET", node.url + "/login", params={"service": APP}
        )
        if form is None or form.status_code != 200:
            return None
        answer = self.request(
            "sign_in",
            session,
            "POST",
            node.url + "/login",
            expect=(302,),
            data={
                "username": login,
                "password": PASSWORD,
                "csrf_token": csrf(form.text),
                "service": APP,
            },
        )
        return _ticket(answer)

    def sso(self, session: requests.Session, node: Node) -> str | None:
        answer = self.request(
            "sso", session, "GET", node.url + "/login", expect=(302,), params={"service": APP}
        )
        return _ticket(answer)

    def validate(self, node: Node, ticket: str, op: str = "validate") -> str:
        """``success``, ``invalid``, ``internal`` or the failure (and records it)."""
        started = time.monotonic()
        try:
            response = requests.get(
                node.url + "/p3/serviceValidate",
                params={"service": APP, "ticket": ticket},
                timeout=TIMEOUT,
            )
        except requests.RequestException as exc:
            self.record(op, started, False, type(exc).__name__)
            return type(exc).__name__
        body = response.text
        if response.status_code != 200:
            outcome = str(response.status_code)
        elif "<cas:authenticationSuccess>" in body:
            outcome = "success"
        elif 'code="INTERNAL_ERROR"' in body:
            outcome = "INTERNAL_ERROR"
        elif 'code="INVALID_TICKET"' in body:
            outcome = "INVALID_TICKET"
        else:
            outcome = "other"
        self.record(op, started, outcome == "success", outcome)
        return outcome

    def user_loop(self, n: int) -> None:
        login = self.users[n % len(self.users)]
        cycle = 0
        while not self.stop.is_set():
            cycle += 1
            session = new_session()
            node = self.nodes[(n + cycle) % len(self.nodes)]
            other = self.nodes[(n + cycle + 1) % len(self.nodes)]
            ticket = self.sign_in(session, node, login)
            if ticket is None:
                time.sleep(0.05)
                continue
            if self.validate(other, ticket) == "success":
                self.validated.append(ticket)
            for k in range(4):
                if self.stop.is_set():
                    break
                ticket = self.sso(session, (node, other)[k % 2])
                if ticket is None:
                    continue
                if k in (1, 3) and cycle % 2:  # kept: validated after the failover (a
                    self.pending.append((time.monotonic(), ticket))  # lost write shows)
                elif self.validate((other, node)[k % 2], ticket) == "success":
                    self.validated.append(ticket)
            if self.extra is not None:
                self.extra(self, n, session, node)
            if cycle % 2:
                continue  # this session stays: its pending ticket lives as long as it does
            tgc = session.cookies.get("TGC")
            answer = self.request("logout", session, "GET", other.url + "/logout")
            if tgc and answer is not None and answer.status_code == 200:
                self.ended.append((time.monotonic(), tgc))

    def run(self, threads: int, during: Callable[[], float], settle: float, limit: float) -> float:
        """Traffic from ``threads`` threads; ``during()`` (the failure) returns its time.

        Runs on until ``settle`` s of success after the failure, ``limit`` s at most.
        """
        workers = [threading.Thread(target=self.user_loop, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        try:
            failed_at = during()
            deadline = time.monotonic() + limit
            while time.monotonic() < deadline:
                back = self.first_success_after(failed_at)
                if back is not None and time.monotonic() > back + settle:
                    break
                time.sleep(0.1)
        finally:
            self.stop.set()
            for worker in workers:
                worker.join(timeout=30)
        return failed_at

    def first_success_after(self, moment: float, ops: tuple[str, ...] = ()) -> float | None:
        """When the first request started after ``moment`` that succeeded (of ``ops``)."""
        with self.lock:
            times = [
                e.at + e.seconds
                for e in self.events
                if e.ok and e.at > moment and (not ops or e.op in ops)
            ]
        return min(times) if times else None

    def summary(self, failed_at: float) -> dict[str, object]:
        after = [e for e in self.events if e.at + e.seconds > failed_at]
        back = self.first_success_after(failed_at, ("sso", "sign_in", "validate"))
        return {
            "requests": len(self.events),
            "failed": sum(not e.ok for e in self.events),
            "failed_after_failure": sum(not e.ok for e in after),
            "statuses": sorted({e.status for e in self.events if not e.ok}),
            "outage_s": None if back is None else round(back - failed_at, 2),
            "last_failure_s": round(
                max((e.at - failed_at for e in after if not e.ok), default=0), 2
            ),
            "slowest_s": round(max(e.seconds for e in self.events), 2),
        }


def _ticket(response: requests.Response | None) -> str | None:
    if response is None or response.status_code != 302:
        return None
    found = parse_qs(urlsplit(response.headers["Location"]).query).get("ticket")
    return found[0] if found else None


def replay_ended_sessions(traffic: Traffic) -> int:
    """How many acknowledged logouts still give a service ticket (must be 0)."""
    issued = 0
    for _, tgc in traffic.ended:
        for node in traffic.nodes:
            session = new_session()
            session.cookies.set("TGC", tgc, domain="127.0.0.1")
            answer = session.get(
                node.url + "/login", params={"service": APP}, allow_redirects=False, timeout=TIMEOUT
            )
            assert answer.status_code in (200, 302), answer.status_code
            issued += answer.status_code == 302
    return issued


def unexpected_errors(nodes: list[Node]) -> str:
    """The nodes' log lines about unexpected errors (the cause of a 500), for a failure message."""
    lines = []
    for node in nodes:
        text = node.log.read_text(encoding="utf-8", errors="replace")
        lines += [
            line[:1500]
            for line in text.splitlines()
            if "unexpected error" in line or "Traceback" in line or '"level": "ERROR"' in line
        ]
    return "\n".join(lines[:8])


def unique_prefix() -> str:
    return f"ha{uuid.uuid4().hex[:6]}:"
