"""Faults: a dependency goes away mid-traffic, the server says so clearly, then heals itself.

- the SQLite database made unavailable (its folder moved away) while gunicorn
  serves, and workers recycled so they must reconnect: 503 pages and
  INTERNAL_ERROR documents, never a 500 or a hang; back to normal without a
  restart once the folder is back;
- PostgreSQL stopped and restarted under traffic (when installed);
- Redis, holding the tickets, stopped and restarted (when the Redis registry exists);
- a single-logout endpoint and a proxy-callback endpoint that hang, then
  answer 500, then recover;
- the LDAP directory stopped and started again;
- the SMTP server gone (connections refused) or hung (connections never
  greeted) while people ask for reset links and activation or profile codes:
  the usual neutral pages, fast; no account changed; each lost mail logged;
  the command line says it failed; mail flows again once SMTP is back.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
import trustme
from aiosmtpd.controller import Controller
from flask import Flask
from lxml import etree  # type: ignore[import-untyped]

from cas_server.accounts.model import Account
from tests.reliability.conftest import (
    Deployment,
    Gunicorn,
    Postgres,
    Redis,
    add_account,
    make_deployment,
    sign_in,
)
from tests.support.app import CasBrowser
from tests.support.endpoints import LocalEndpoint
from tests.support.gunicorn import tail
from tests.support.html import without_csrf
from tests.support.http import new_session
from tests.support.outbound import SmtpSink, body, code_in, link_in
from tests.support.sesame import hidden_fields

APP = "https://app.example.org/faults"
PASSWORD = "Fault-Tolerant-2026!"
CAS_NS = {"cas": "http://www.yale.edu/tp/cas"}
UNAVAILABLE_TEXT = "temporarily unavailable"
ANSWER_WITHIN = 10.0  # seconds: every answer during an outage comes at least this fast
RECOVER_WITHIN = 20.0


# --- helpers for real servers -------------------------------------------------------------


def validation_code(response: requests.Response) -> str:
    assert response.status_code == 200, response.status_code
    root = etree.fromstring(response.content)
    if root.find("cas:authenticationSuccess", CAS_NS) is not None:
        return "ok"
    failure = root.find("cas:authenticationFailure", CAS_NS)
    assert failure is not None, response.text[:300]
    return str(failure.get("code"))


class Probe:
    """The traffic of a service and its users while the fault lasts."""

    def __init__(self, server: Gunicorn, tgc: str) -> None:
        self.server = server
        self.session = new_session()
        self.session.cookies.set("TGC", tgc)

    def sso(self) -> tuple[requests.Response, float]:
        began = time.monotonic()
        response = self.session.get(
            f"{self.server.base}/login?service={quote(APP, safe='')}",
            allow_redirects=False,
            timeout=ANSWER_WITHIN + 20,
        )
        return response, time.monotonic() - began

    def validate(self, ticket: str) -> tuple[str, float]:
        began = time.monotonic()
        response = requests.get(
            f"{self.server.base}/p3/serviceValidate",
            params={"service": APP, "ticket": ticket},
            timeout=ANSWER_WITHIN + 20,
        )
        return validation_code(response), time.monotonic() - began

    def healthy(self) -> bool:
        try:
            response, _ = self.sso()
        except requests.RequestException:
            return False
        if response.status_code != 302:
            return False
        ticket = parse_qs(urlsplit(response.headers["Location"]).query)["ticket"][0]
        return self.validate(ticket)[0] == "ok"

    def assert_clear_outage(self) -> None:
        """SSO: a 503 page; validation: INTERNAL_ERROR; quickly; never a 500."""
        response, elapsed = self.sso()
        assert response.status_code == 503, (response.status_code, response.text[:300])
        assert UNAVAILABLE_TEXT in response.text.lower() or "indisponible" in response.text.lower()
        assert "Traceback" not in response.text
        assert elapsed < ANSWER_WITHIN, elapsed
        code, elapsed = self.validate("ST-" + "a" * 22)
        assert code == "INTERNAL_ERROR", code
        assert elapsed < ANSWER_WITHIN, elapsed

    def wait_healthy(self, timeout: float = RECOVER_WITHIN) -> float:
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            if self.healthy():
                return time.monotonic() - began
            time.sleep(0.2)
        pytest.fail(f"not healthy {timeout} s after the dependency came back:\n"
                    f"{self.server.log.read_text(errors='replace')[-3000:]}")  # fmt: skip


def signed_in(server: Gunicorn, login: str = "alice") -> str:
    session = new_session()
    response = sign_in(session, server.base, APP, login, PASSWORD)
    assert response.status_code == 302, response.text[:500]
    return session.cookies["TGC"]


def recycle_workers(server: Gunicorn) -> None:
    """SIGHUP: gunicorn replaces its workers; the new ones must open new connections."""
    assert server.process is not None
    old = set(server.workers_pids())
    os.kill(server.process.pid, signal.SIGHUP)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = set(server.workers_pids())
        if len(now) >= server.workers and not now & old:
            return
        time.sleep(0.1)
    pytest.fail(f"workers were not replaced:\n{server.log.read_text(errors='replace')[-3000:]}")


# --- SQLite -------------------------------------------------------------------------------


@pytest.mark.e2e
def test_sqlite_database_unavailable_then_back(
    deployment: Deployment, servers: list[Gunicorn]
) -> None:
    add_account(deployment, "alice", PASSWORD)
    server = Gunicorn(deployment)
    servers.append(server)
    server.start()
    probe = Probe(server, signed_in(server))
    assert probe.healthy()

    folder = Path(deployment.database_url[len("sqlite:///") :]).parent
    away = folder.with_name("db-away")
    folder.rename(away)
    try:
        # Connections already open keep the old file: new workers must reconnect.
        recycle_workers(server)
        for _ in range(3):
            probe.assert_clear_outage()
        # A sign-in that cannot be checked is a 503 too, not a "wrong password".
        session = new_session()
        response = session.get(f"{server.base}/login", timeout=ANSWER_WITHIN)
        assert response.status_code == 200  # the form itself needs no database
        answer = sign_in(session, server.base, APP, "alice", PASSWORD)
        assert answer.status_code == 503, answer.status_code
    finally:
        away.rename(folder)
    elapsed = probe.wait_healthy()
    assert server.process is not None and server.process.poll() is None  # no restart needed
    print(f"SQLite: healthy again {elapsed:.1f} s after the database came back")


# --- PostgreSQL ---------------------------------------------------------------------------


@pytest.mark.e2e
def test_postgresql_restart_mid_traffic(
    tmp_path: Path, servers: list[Gunicorn], postgres: Postgres
) -> None:
    deployment = make_deployment(tmp_path / "pg", database_url=postgres.url)
    add_account(deployment, "alice", PASSWORD)
    server = Gunicorn(deployment)
    servers.append(server)
    server.start()
    probe = Probe(server, signed_in(server))
    assert probe.healthy()
    # A committed account change before the outage.
    changed = deployment.cli(
        "users", "set-password", "alice", "--password-stdin", stdin="Changed-Before-2026!\n"
    )
    assert changed.returncode == 0, changed.stderr

    stop_traffic = threading.Event()
    seen: list[int] = []

    def traffic() -> None:
        while not stop_traffic.is_set():
            try:
                seen.append(probe.sso()[0].status_code)
            except requests.RequestException:
                seen.append(-1)
            time.sleep(0.02)

    worker = threading.Thread(target=traffic, daemon=True)
    worker.start()
    try:
        time.sleep(0.5)
        postgres.stop("fast")
        time.sleep(0.5)
        probe.assert_clear_outage()
        refused = deployment.cli(
            "users", "set-password", "alice", "--password-stdin", stdin="Changed-During-2026!\n"
        )
        assert refused.returncode != 0  # said clearly, not silently lost
        postgres.start()
        elapsed = probe.wait_healthy()
    finally:
        stop_traffic.set()
        worker.join(timeout=30)
    assert 500 not in seen and -1 not in seen, sorted(set(seen))
    assert 503 in seen and 302 in seen
    # The change acknowledged before the outage is there; the refused one is not.
    session = new_session()
    assert sign_in(session, server.base, APP, "alice", "Changed-Before-2026!").status_code == 302
    assert (
        sign_in(new_session(), server.base, APP, "alice", "Changed-During-2026!").status_code == 401
    )
    print(f"PostgreSQL: healthy again {elapsed:.1f} s after the restart")


# --- Redis --------------------------------------------------------------------------------


@pytest.mark.e2e
def test_redis_down_then_back(
    tmp_path: Path, servers: list[Gunicorn], redis_instance: Redis
) -> None:
    extra = f'[tickets]\nbackend = "redis"\n[redis]\nurl = "{redis_instance.url}"\n'
    deployment = make_deployment(tmp_path / "redis", extra=extra)
    add_account(deployment, "alice", PASSWORD)
    server = Gunicorn(deployment)
    servers.append(server)
    server.start()
    probe = Probe(server, signed_in(server))
    assert probe.healthy()
    redis_instance.stop()
    for _ in range(3):
        probe.assert_clear_outage()
    redis_instance.start()  # same port, empty: the SSO sessions are gone
    deadline = time.monotonic() + RECOVER_WITHIN
    while True:
        response, _ = probe.sso()
        if response.status_code == 200:  # the login form: the session is gone, no error
            break
        assert response.status_code == 503, response.status_code
        assert time.monotonic() < deadline, "still failing after Redis came back"
        time.sleep(0.2)
    # A new sign-in works again, without restarting the server.
    probe = Probe(server, signed_in(server))
    assert probe.healthy()


# --- single logout and proxy callback endpoints that misbehave ----------------------------


class Flaky(LocalEndpoint):
    """An HTTP(S) endpoint whose behaviour the test switches: 'ok', '500' or 'hang'."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self.mode = "ok"
        self.received: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
                if outer.mode == "hang":
                    outer.release.wait(5.0)
                else:
                    outer.received.append(self.path + "\n" + body)
                status = 500 if outer.mode == "500" else 200
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the server gave up on us: expected when hanging

            do_GET = _answer
            do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler, context)


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def slo_endpoint() -> Iterator[Flaky]:
    endpoint = Flaky()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def callback_endpoint(ca: trustme.CA) -> Iterator[Flaky]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    endpoint = Flaky(context)
    yield endpoint
    endpoint.stop()


@pytest.fixture
def app_overrides(tmp_path: Path, ca: trustme.CA, slo_endpoint: Flaky) -> dict[str, dict[str, Any]]:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    services = tmp_path / "services.toml"
    services.write_text(
        "[[services]]\n"
        'id = "app"\n'
        'name = "Application with proxy and single logout"\n'
        "url_pattern = '^https://app\\.example\\.org(/.*)?$'\n"
        "proxy_callback_pattern = '^https://127\\.0\\.0\\.1:\\d+/.*$'\n"
        f'logout_url = "http://127.0.0.1:{slo_endpoint.port}/slo"\n',
        encoding="utf-8",
    )
    return {
        "services": {"paths": [str(services)]},
        "http": {"ca_bundle": str(bundle), "connect_timeout": 1.0, "read_timeout": 1.0},
    }


def session_with_validated_ticket(app: Flask) -> Any:
    client = app.test_client()
    ticket = CasBrowser(client).service_ticket(APP)
    root = etree.fromstring(
        client.get("/serviceValidate", query_string={"service": APP, "ticket": ticket}).data
    )
    assert root.find("cas:authenticationSuccess", CAS_NS) is not None
    return client


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    began = time.monotonic()
    result = call()
    return result, time.monotonic() - began


def test_single_logout_endpoint_hangs_fails_then_recovers(
    app: Flask, alice: Account, slo_endpoint: Flaky
) -> None:
    for mode in ("hang", "500"):
        slo_endpoint.mode = mode
        client = session_with_validated_ticket(app)
        response, elapsed = timed(lambda c=client: c.get("/logout"))
        assert response.status_code == 200 and elapsed < 1.0, (mode, elapsed)
        # The user is logged out whatever the service did.
        assert client.get("/login", query_string={"service": APP}).status_code == 200
        # Meanwhile the server serves others as usual.
        other, elapsed = timed(lambda: app.test_client().get("/login"))
        assert other.status_code == 200 and elapsed < 1.0
    slo_endpoint.release.set()
    slo_endpoint.mode = "ok"
    before = len(slo_endpoint.received)
    client = session_with_validated_ticket(app)
    assert client.get("/logout").status_code == 200
    deadline = time.monotonic() + 10
    while len(slo_endpoint.received) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    delivered = slo_endpoint.received[before:]
    assert delivered and "logoutRequest" in delivered[0], slo_endpoint.received


def test_proxy_callback_hangs_fails_then_recovers(
    app: Flask, alice: Account, callback_endpoint: Flaky
) -> None:
    url = f"https://127.0.0.1:{callback_endpoint.port}/pgt"

    def validate() -> Any:
        ticket = CasBrowser(app.test_client()).service_ticket(APP)
        response = app.test_client().get(
            "/serviceValidate", query_string={"service": APP, "ticket": ticket, "pgtUrl": url}
        )
        assert response.status_code == 200
        return etree.fromstring(response.data)

    for mode in ("hang", "500"):
        callback_endpoint.mode = mode
        root, elapsed = timed(validate)
        failure = root.find("cas:authenticationFailure", CAS_NS)
        assert failure is not None and failure.get("code") == "INVALID_PROXY_CALLBACK", (
            mode,
            etree.tostring(root),
        )
        assert elapsed < 3.0, (mode, elapsed)  # read_timeout is 1 s
    callback_endpoint.release.set()
    callback_endpoint.mode = "ok"
    root = validate()
    iou = root.findtext("cas:authenticationSuccess/cas:proxyGrantingTicket", namespaces=CAS_NS)
    assert iou and iou.startswith("PGTIOU-"), etree.tostring(root)
    assert any("pgtIou=" + iou in r for r in callback_endpoint.received)


# --- LDAP (issue 6's directory source and test helpers, when present) ----------------------


def test_ldap_down_mid_traffic_then_back(db_path: Path) -> None:
    """The directory stops: 503 page, never "wrong password"; back by itself when it returns."""
    servers_module = pytest.importorskip("tests.support.servers")
    directory = pytest.importorskip("tests.auth.ldap.conftest")
    from cas_server import create_app
    from tests.support.app import test_overrides

    with servers_module.running_slapd() as ldap:
        app = create_app(
            overrides=test_overrides(
                db_path,
                auth={"sources": ["ldap"]},
                ldap=directory.ldap_settings(ldap.url, server_retry_after=1),
            ),
            environ={},
        )
        script = servers_module.SLAPD_SCRIPT
        try:
            browser = CasBrowser(app.test_client())
            assert browser.login("alice@example.org", "alicepass", service=APP).status_code == 302
            subprocess.run(["bash", str(script), "stop", str(ldap.folder)], check=True,
                           capture_output=True, timeout=60)  # fmt: skip
            for _ in range(3):
                response, elapsed = timed(
                    lambda: CasBrowser(app.test_client()).login(
                        "alice@example.org", "alicepass", service=APP
                    )
                )
                assert response.status_code == 503, response.status_code
                assert elapsed < ANSWER_WITHIN
            subprocess.run(
                ["bash", str(script), "start", str(ldap.port), str(ldap.folder),
                 str(servers_module.LDAP_PEOPLE)],
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip
            deadline = time.monotonic() + RECOVER_WITHIN
            while True:
                answer = CasBrowser(app.test_client()).login(
                    "alice@example.org", "alicepass", service=APP
                )
                if answer.status_code == 302:
                    break
                assert answer.status_code == 503, answer.status_code
                assert time.monotonic() < deadline, "still unavailable after slapd came back"
                time.sleep(0.3)
        finally:
            app.extensions["cas"].engine.dispose()


# --- SMTP (the Sésame mails: reset links, activation and profile codes) --------------------
#
# What the product does (cas_server/outbound/mail.py): a page renders its mail and hands it
# to a background thread pool (T2), then answers at once. The thread opens one SMTP
# connection per message; if that fails (refused, reset, timed out after
# [mail] timeout) the message is dropped and one ERROR line is logged, naming the
# Message-ID and the error, never the recipient. There is no queue and no retry:
# the user asks again ("Start again" / the same form), and once the SMTP server is
# back the next request is delivered normally, without a restart.

MAIL_TIMEOUT = 10.0  # [mail] timeout (the default): a hung relay holds a mail thread so long
PAGE_WITHIN = 3.0  # every self-service page answers well within it (T2)
NOT_SENT_RE = re.compile(r"mail <[^>]+> not sent: (\w+)")
CAMILLE = {"kind": "student_number", "identifier": "22004321", "birth_date": "14/03/2006"}
NOBODY = {"kind": "student_number", "identifier": "99999999", "birth_date": "14/03/2006"}
NEW_PASSWORD = "Back-From-Outage-2026!"


class Smtp:
    """The deployment's SMTP server, on a fixed port: real (aiosmtpd), absent or silent."""

    def __init__(self) -> None:
        self.sink = SmtpSink()
        self.port = self.sink.port
        self.silent: socket.socket | None = None
        self.running = False
        self.start()

    def start(self) -> None:
        self.end_silence()
        self.sink.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self.sink.controller.start()
        self.running = True

    def stop(self) -> None:
        """Nothing listens on the port any more: connections are refused."""
        if self.running:
            self.sink.controller.stop()
            self.running = False

    def go_silent(self) -> None:
        """A hung relay: the kernel accepts the connection, nobody ever says hello."""
        self.stop()
        silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        silent.bind(("127.0.0.1", self.port))
        silent.listen(64)
        self.silent = silent

    def end_silence(self) -> None:
        """Close the silent listener: the connections waiting on it are reset."""
        if self.silent is not None:
            self.silent.close()
            self.silent = None

    def close(self) -> None:
        self.stop()
        self.end_silence()


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    server = Smtp()
    yield server
    server.close()


def sesame_deployment(folder: Path, smtp: Smtp) -> Deployment:
    deployment = make_deployment(
        folder,
        extra=(
            "[mail]\n"
            'backend = "smtp"\n'
            'host = "127.0.0.1"\n'
            f"port = {smtp.port}\n"
            'from_address = "sesame@univ-test.fr"\n'
            f"timeout = {MAIL_TIMEOUT}\n"
        ),
    )
    from cas_server.accounts.model import Profile, Status
    from cas_server.auth.hashing import hash_password
    from cas_server.storage.sql.accounts import SqlAccountRepository
    from cas_server.storage.sql.db import make_engine

    engine = make_engine(deployment.database_url)
    try:
        repository = SqlAccountRepository(engine)
        for login in ("alice", "bob"):
            repository.create(
                login,
                profile=Profile.STUDENT,
                status=Status.ACTIVE,
                password_hash=hash_password(PASSWORD, 4),
                given_name=login.title(),
                family_name="Martin",
                personal_email=f"{login}.perso@example.net",
                attributes={"mail": [f"{login}@example.org"]},
            )
        repository.create(
            "camille",
            profile=Profile.STUDENT,
            status=Status.NOT_ACTIVATED,
            given_name="Camille",
            family_name="Durand",
            birth_date=date(2006, 3, 14),
            student_number="22004321",
            personal_email="camille.perso@example.net",
        )
    finally:
        engine.dispose()
    return deployment


def accounts_state(deployment: Deployment) -> dict[str, Any]:
    """Every stored column of every account (by login), password histories, charters."""
    from sqlalchemy import select

    from cas_server.storage.sql.db import make_engine
    from cas_server.storage.sql.models import (
        AccountRow,
        CharterAcceptanceRow,
        PasswordHistoryRow,
    )

    engine = make_engine(deployment.database_url)
    try:
        with engine.connect() as conn:
            return {
                "accounts": {
                    r.login: dict(r._mapping) for r in conn.execute(select(AccountRow.__table__))
                },
                "history": sorted(
                    tuple(r) for r in conn.execute(select(PasswordHistoryRow.__table__))
                ),
                "charters": sorted(
                    tuple(r) for r in conn.execute(select(CharterAcceptanceRow.__table__))
                ),
            }
    finally:
        engine.dispose()


def submit(
    session: requests.Session, base: str, url: str, data: dict[str, str]
) -> tuple[requests.Response, float]:
    """Load the form at ``url`` (CAPTCHA as a question), post ``data``; the answer and its time."""
    form = session.get(f"{base}{url}?captcha=question", timeout=ANSWER_WITHIN)
    assert form.status_code == 200, (url, form.status_code, form.text[:300])
    began = time.monotonic()
    response = session.post(
        base + url,
        data={**hidden_fields(form.text), **data},
        allow_redirects=False,
        timeout=ANSWER_WITHIN + 20,
    )
    return response, time.monotonic() - began


def neutral(response: requests.Response, elapsed: float) -> str:
    """A plain page, fast, no error: its HTML without the per-session CSRF token."""
    assert response.status_code == 200, (response.status_code, response.text[:300])
    assert "Traceback" not in response.text
    assert elapsed < PAGE_WITHIN, elapsed
    return without_csrf(response.text)


def profile_session(base: str, login: str) -> requests.Session:
    """Signed in to the profile pages through CAS, like a browser."""
    session = new_session()
    first = session.get(base + "/profile/", allow_redirects=False, timeout=ANSWER_WITHIN)
    assert first.status_code == 302, first.status_code
    service = parse_qs(urlsplit(first.headers["Location"]).query)["service"][0]
    ticket = sign_in(session, base, service, login, PASSWORD)
    assert ticket.status_code == 302, ticket.status_code
    back = session.get(ticket.headers["Location"], allow_redirects=False, timeout=ANSWER_WITHIN)
    assert back.status_code == 302 and back.headers["Location"].endswith("/profile/")
    return session


def ask_email_code(session: requests.Session, base: str) -> tuple[requests.Response, float]:
    data = {"personal_email": "bob.new@example.org", "current_password": PASSWORD}
    return submit(session, base, "/profile/email", data)


def not_sent(server: Gunicorn) -> list[str]:
    return NOT_SENT_RE.findall(server.log.read_text(errors="replace"))


def wait_not_sent(server: Gunicorn, count: int, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while len(found := not_sent(server)) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"{len(found)} failed mail(s) logged, wanted {count}:\n{tail(server.log)}")
        time.sleep(0.05)
    return found


def reset_by_mailed_link(server: Gunicorn, smtp: Smtp, expected_page: str) -> None:
    """alice asks for a link, follows it, chooses a password, signs in with it."""
    asked = submit(new_session(), server.base, "/sesame/password/email", {"identifier": "alice"})
    assert neutral(*asked) == expected_page  # the page never told about the outage
    link = link_in(smtp.sink.wait(to="alice.perso@example.net", timeout=10)[0])
    assert link.startswith(server.base + "/sesame/password/reset/")
    fields = {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    done, _ = submit(new_session(), "", link, fields)
    assert done.status_code == 200, (done.status_code, done.text[:500])
    assert sign_in(new_session(), server.base, APP, "alice", NEW_PASSWORD).status_code == 302


def activate_with_mailed_code(server: Gunicorn, smtp: Smtp, expected_page: str) -> None:
    """camille identifies herself, types the mailed code, fills the form, signs in."""
    session = new_session()
    started, elapsed = submit(session, server.base, "/sesame/activate", CAMILLE)
    assert neutral(started, elapsed) == expected_page
    code = code_in(body(smtp.sink.wait(to="camille.perso@example.net", timeout=10)[0]))
    proven = session.post(
        server.base + "/sesame/activate/verify",
        data={**hidden_fields(started.text), "code": code},
        allow_redirects=False,
        timeout=ANSWER_WITHIN,
    )
    assert proven.status_code == 303, (proven.status_code, proven.text[:500])
    fields = {
        "personal_email": "camille.perso@example.net",
        "joker_question": "first_pet",
        "joker_answer": "Médor le chien",
        "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD,
    }
    activated, _ = submit(session, server.base, "/sesame/activate/account", fields)
    assert activated.status_code == 200 and "data-login" in activated.text, activated.text[:500]
    assert sign_in(new_session(), server.base, APP, "camille", NEW_PASSWORD).status_code == 302


def change_email_with_mailed_code(server: Gunicorn, smtp: Smtp, bob: requests.Session) -> None:
    """bob, signed in, asks for a code to a new address and types it."""
    asked, _ = ask_email_code(bob, server.base)
    assert asked.status_code == 303
    code = code_in(body(smtp.sink.wait(to="bob.new@example.org", timeout=10)[0]))
    verified, _ = submit(bob, server.base, "/profile/email/verify", {"code": code})
    assert verified.status_code == 303, (verified.status_code, verified.text[:500])


@pytest.mark.e2e
@pytest.mark.parametrize("outage", ["refused", "silent"])
def test_smtp_down_then_back(
    tmp_path: Path, servers: list[Gunicorn], smtp: Smtp, outage: str
) -> None:
    """Pages that send mail answer as usual and fast, change no account, and the failure is
    logged; the command line says it failed; the next requests once SMTP is back deliver."""
    deployment = sesame_deployment(tmp_path / "smtp", smtp)
    server = Gunicorn(deployment)
    servers.append(server)
    server.start()
    assert server.process is not None
    pid, workers = server.process.pid, server.workers_pids()
    bob = profile_session(server.base, "bob")
    before = accounts_state(deployment)
    if outage == "refused":
        smtp.stop()
    else:
        smtp.go_silent()

    # Forgotten password by mailed link (T1): the same page for a known and an unknown name.
    reset_page = neutral(*submit(new_session(), server.base, "/sesame/password/email",
                                 {"identifier": "alice"}))  # fmt: skip
    unknown = neutral(*submit(new_session(), server.base, "/sesame/password/email",
                              {"identifier": "nobody"}))  # fmt: skip
    assert reset_page == unknown
    # Activation with a code to the personal address on file (T1): the code page for all.
    code_page = neutral(*submit(new_session(), server.base, "/sesame/activate", CAMILLE))
    unknown = neutral(*submit(new_session(), server.base, "/sesame/activate", NOBODY))
    assert code_page == unknown and 'name="code"' in code_page
    # Profile: a code to the new address; the code page, as usual.
    asked, elapsed = ask_email_code(bob, server.base)
    assert asked.status_code == 303 and elapsed < PAGE_WITHIN, (asked.status_code, elapsed)
    assert asked.headers["Location"].endswith("/profile/email/verify")
    verify = bob.get(server.base + "/profile/email/verify", timeout=ANSWER_WITHIN)
    assert verify.status_code == 200 and 'name="code"' in verify.text

    if outage == "silent":
        time.sleep(0.3)
        assert not_sent(server) == []  # the mail threads still wait for a greeting
        smtp.end_silence()  # the relay dies: the connections waiting on it are reset
    # The three mails of the pages failed: one ERROR line each, without the address.
    assert len(wait_not_sent(server, 3, MAIL_TIMEOUT + 10)) == 3
    # The command line waits for its mail, so it can say that it failed (exit status 1).
    refused = deployment.cli("users", "send-reset", "alice")
    assert refused.returncode == 1, (refused.stdout, refused.stderr)
    assert "could not be delivered" in refused.stderr and "Traceback" not in refused.stderr
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log
    for address in ("alice.perso@example.net", "camille.perso@example.net", "bob.new@example.org"):
        assert address not in log  # personal data
    # Requests change nothing on any account (T10): nothing half-written.
    assert accounts_state(deployment) == before
    assert smtp.sink.delivered() == []

    smtp.start()
    # Each flow works again, through the same server processes.
    reset_by_mailed_link(server, smtp, reset_page)
    activate_with_mailed_code(server, smtp, code_page)
    change_email_with_mailed_code(server, smtp, bob)
    sent = deployment.cli("users", "send-reset", "alice")
    assert sent.returncode == 0 and "sent to" in sent.stdout, (sent.stdout, sent.stderr)

    # Then the confirmations (T11). The mails of the outage never turn up: no retry.
    smtp.sink.wait(3, to="alice.perso@example.net", timeout=10)  # link, confirmation, link
    smtp.sink.wait(2, to="camille.perso@example.net", timeout=10)  # code, confirmation
    smtp.sink.wait(2, to="bob.new@example.org", timeout=10)  # code, confirmation
    smtp.sink.wait(1, to="bob.perso@example.net", timeout=10)  # the notice to the old one
    time.sleep(0.3)
    assert len(smtp.sink.delivered()) == 8, [str(m["To"]) for m in smtp.sink.delivered()]
    assert len(not_sent(server)) == 3
    assert server.process.pid == pid and server.workers_pids() == workers  # no restart
    after = accounts_state(deployment)["accounts"]
    assert after["bob"]["personal_email"] == "bob.new@example.org"
    assert after["camille"]["status"] == "active"
