"""Crash: kill -9 of a worker, then of the whole server, during a burst of password
changes and account activations.

Accounts that must change their password sign in and choose a new one
through the forced-change flow (sign-in, /login/password, back to the
service with a ticket), many at once, while newcomers activate their
account through Sésame ("Activer mon compte": an activation code handed
out, or their number and birth date then the 6-digit code mailed to their
personal address, read from a real SMTP server; then the one form with
password, personal address, joker and charter) and other users just sign
in. A worker is killed with SIGKILL in the middle of the burst, then the
master and every worker. After a restart on the same database:

- every change acknowledged to its user (the redirect with a ticket) is
  there: the new password signs in, no change is asked any more;
- no change is half-applied: for every account, the password hash, the
  newest row of the password history and the must-change flag agree;
- every activation acknowledged to its user (the "Account activated" page
  showing the login) is there: active, the chosen password signs in
  straight to the service (charter accepted), personal address and joker
  as typed;
- no account is half-activated: either everything of the form is stored
  (status, password and its one history row, joker, charter acceptance,
  personal address, activation code spent) or nothing is.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
import requests

from tests.reliability.conftest import (
    Deployment,
    Gunicorn,
    add_account,
    add_accounts,
    make_deployment,
    sign_in,
)
from tests.support.html import CSRF_RE
from tests.support.http import new_session
from tests.support.outbound import SmtpSink, body, code_in

pytestmark = pytest.mark.e2e

SERVICE = "https://app.example.org/crash"
ACCOUNTS = 240
INITIAL = "Initial-Password-2026!"
CLIENTS = 12
BURST_SECONDS = 30.0  # upper bound; the test stops the burst once the kills are done
NEWCOMERS = 120  # accounts to activate; odd ones prove their mail, even ones have a code
BIRTH_DATE = date(1990, 4, 12)
CHARTER = ("staff", "2026-11")  # the newcomers' charter (staff profile only)
JOKER = ("first_pet", "Médor le chien")
MAIL_WAIT = 3.0  # seconds a newcomer waits for the mailed code before giving up


@dataclass
class Ledger:
    """What each user was told."""

    attempted: dict[str, list[str]] = field(default_factory=dict)
    acknowledged: dict[str, str] = field(default_factory=dict)
    activated: dict[str, str] = field(default_factory=dict)  # acknowledged activations
    outcomes: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, what: str) -> None:
        with self.lock:
            self.outcomes[what] = self.outcomes.get(what, 0) + 1


def change_password(base: str, login: str, ledger: Ledger) -> None:
    """Sign in, be asked for a new password, choose one; record what the user was told."""
    session = new_session()
    try:
        first = sign_in(session, base, SERVICE, login, INITIAL)
        if first.status_code != 303 or "/login/password" not in first.headers.get("Location", ""):
            ledger.count(f"sign-in {first.status_code}")
            return
        page = session.get(base + "/login/password", timeout=30)
        token = CSRF_RE.search(page.text)
        assert token, page.text[:300]
        new = f"Changed-{secrets.token_urlsafe(9)}-9!"
        with ledger.lock:
            ledger.attempted.setdefault(login, []).append(new)
        answer = session.post(
            base + "/login/password",
            data={"csrf_token": token.group(1), **password_fields(page.text, new)},
            allow_redirects=False,
            timeout=30,
        )
        location = answer.headers.get("Location", "")
        if answer.status_code == 302 and location.startswith(SERVICE) and "ticket=" in location:
            with ledger.lock:
                ledger.acknowledged[login] = new
            ledger.count("acknowledged")
        else:
            ledger.count(f"change {answer.status_code}")
    except requests.RequestException as exc:
        ledger.count(exc.__class__.__name__)  # the server died under this request: not told
    finally:
        session.close()


def password_fields(page: str, new: str) -> dict[str, str]:
    """The names of the new-password and confirmation fields, read from the form."""
    import re

    names = []
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'\sname="([^"]+)"', tag)
        if 'type="password"' in tag and name and name.group(1) not in names:
            names.append(name.group(1))
    assert len(names) >= 2, page[:500]
    return {names[0]: new, names[1]: new}


def newcomer_number(login: str) -> str:
    return f"7{int(login[3:]):06d}"


def activation_code(login: str) -> str:
    """The code handed out to an even newcomer (as printed: groups of four)."""
    return f"K7M2-{int(login[3:]):04d}-R8T3"


def activate(base: str, sink: SmtpSink, login: str, ledger: Ledger) -> None:
    """Prove who one is, fill in the activation form; record what the user was told."""
    session = new_session()
    by_mail = int(login[3:]) % 2 == 1
    try:
        start = session.get(base + "/sesame/activate", timeout=30)
        token = CSRF_RE.search(start.text)
        if start.status_code != 200 or not token:
            ledger.count(f"start {start.status_code}")
            return
        if by_mail:
            asked = session.post(
                base + "/sesame/activate",
                data={
                    "csrf_token": token.group(1),
                    "kind": "personnel_number",
                    "identifier": newcomer_number(login),
                    "birth_date": BIRTH_DATE.strftime("%d/%m/%Y"),
                },
                allow_redirects=False,
                timeout=30,
            )
            token = CSRF_RE.search(asked.text)
            if asked.status_code != 200 or 'name="code"' not in asked.text or not token:
                ledger.count(f"identify {asked.status_code}")
                return
            try:
                mail = sink.wait(to=f"{login}@perso.example.net", timeout=MAIL_WAIT)[-1]
            except AssertionError:
                ledger.count("code mail lost")  # its worker died before sending it
                return
            proven = session.post(
                base + "/sesame/activate/verify",
                data={"csrf_token": token.group(1), "code": code_in(body(mail))},
                allow_redirects=False,
                timeout=30,
            )
        else:
            proven = session.post(
                base + "/sesame/activate/code",
                data={"csrf_token": token.group(1), "activation_code": activation_code(login)},
                allow_redirects=False,
                timeout=30,
            )
        if proven.status_code != 303:
            ledger.count(f"proof {proven.status_code}")
            return
        form = session.get(base + "/sesame/activate/account", timeout=30)
        token = CSRF_RE.search(form.text)
        if form.status_code != 200 or not token:
            ledger.count(f"form {form.status_code}")
            return
        password = f"Activated-{secrets.token_hex(6)}-7!"
        with ledger.lock:
            ledger.attempted.setdefault(login, []).append(password)
        done = session.post(
            base + "/sesame/activate/account",
            data={
                "csrf_token": token.group(1),
                "personal_email": newcomer_email(login, by_mail),
                "mobile": "",
                "joker_question": JOKER[0],
                "joker_answer": JOKER[1],
                "new_password": password,
                "confirm_password": password,
                "charter": "1",
            },
            allow_redirects=False,
            timeout=30,
        )
        if done.status_code == 200 and f"data-login>{login}<" in done.text:
            with ledger.lock:
                ledger.activated[login] = password
            ledger.count("activated")
        else:
            ledger.count(f"activation {done.status_code}")
    except requests.RequestException as exc:
        ledger.count(f"activation {exc.__class__.__name__}")  # not told
    finally:
        session.close()


def newcomer_email(login: str, by_mail: bool) -> str:
    """The personal address typed in the form: the proven one, or a new one."""
    return f"{login}@perso.example.net" if by_mail else f"{login}.new@example.org"


def plain_sign_in(base: str, ledger: Ledger) -> None:
    try:
        response = sign_in(new_session(), base, SERVICE, "steady", INITIAL)
        ledger.count(f"steady {response.status_code}")
    except requests.RequestException as exc:
        ledger.count(f"steady {exc.__class__.__name__}")


@pytest.fixture
def deployment(tmp_path: Path, smtp_sink: SmtpSink) -> Deployment:
    """Mail to the sink; a charter for the staff profile only (the newcomers')."""
    folder = tmp_path / "deployment"
    deployment = make_deployment(
        folder,
        extra=(
            "[sesame]\n"
            "max_requests_per_ip = 100000\n"  # every newcomer comes from 127.0.0.1
            "[mail]\n"
            'host = "127.0.0.1"\n'
            f"port = {smtp_sink.port}\n"
            'from_address = "sesame@univ-test.fr"\n'
            "timeout = 5.0\n"
        ),
    )
    charters = folder / "charters"
    charters.mkdir()
    (charters / "staff.txt").write_text("Use the network with care.\n", encoding="utf-8")
    (charters / "charters.toml").write_text(
        "[[charters]]\n"
        f'id = "{CHARTER[0]}"\n'
        f'version = "{CHARTER[1]}"\n'
        'profiles = ["staff"]\n'
        'title = { fr = "Charte du personnel", en = "Staff charter" }\n'
        'text = { fr = "staff.txt", en = "staff.txt" }\n',
        encoding="utf-8",
    )
    deployment.env["CAS_CHARTERS__PATH"] = str(charters / "charters.toml")
    return deployment


@pytest.fixture
def accounts(deployment: Deployment) -> Iterator[list[str]]:
    logins = [f"user{i:03d}" for i in range(ACCOUNTS)]
    add_accounts(deployment, logins, INITIAL, must_change=True)
    add_account(deployment, "steady", INITIAL)
    yield logins


@pytest.fixture
def newcomers(deployment: Deployment) -> list[str]:
    """Staff imported from the information system, never signed in; even ones hold a code."""
    from sqlalchemy import update

    from cas_server.accounts.model import Profile, Status
    from cas_server.accounts.tokens import digest, normalize_activation_code
    from cas_server.storage.sql.accounts import SqlAccountRepository
    from cas_server.storage.sql.db import make_engine
    from cas_server.storage.sql.models import AccountRow

    logins = [f"new{i:03d}" for i in range(NEWCOMERS)]
    engine = make_engine(deployment.database_url)
    try:
        repository = SqlAccountRepository(engine)
        for index, login in enumerate(logins):
            account = repository.create(
                login,
                profile=Profile.STAFF,
                status=Status.NOT_ACTIVATED,
                given_name="Nora",
                family_name="Newcomer",
                birth_date=BIRTH_DATE,
                personnel_number=newcomer_number(login),
                personal_email=f"{login}@perso.example.net",
            )
            if index % 2 == 0:
                code = digest(normalize_activation_code(activation_code(login)))
                with engine.begin() as conn:
                    conn.execute(
                        update(AccountRow)
                        .where(AccountRow.uuid == account.uuid)
                        .values(activation_code_hash=code)
                    )
    finally:
        engine.dispose()
    return logins


def test_kill_9_during_a_burst_of_password_changes_and_activations(
    deployment: Deployment,
    servers: list[Gunicorn],
    accounts: list[str],
    newcomers: list[str],
    smtp_sink: SmtpSink,
) -> None:
    server = Gunicorn(deployment)
    servers.append(server)
    server.start()
    ledger = Ledger()
    queue = list(accounts) + list(newcomers)
    random.Random(7).shuffle(queue)
    queue_lock = threading.Lock()
    stop = threading.Event()

    def client(number: int) -> None:
        while not stop.is_set():
            if number % 4 == 3:
                plain_sign_in(server.base, ledger)
                continue
            with queue_lock:
                if not queue:
                    return
                login = queue.pop()
            if login.startswith("new"):
                activate(server.base, smtp_sink, login, ledger)
            else:
                change_password(server.base, login, ledger)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    began = time.monotonic()

    def wait_acknowledged(changes: int, activations: int) -> None:
        while (
            len(ledger.acknowledged) < changes or len(ledger.activated) < activations
        ) and time.monotonic() - began < BURST_SECONDS:
            time.sleep(0.01)

    wait_acknowledged(20, 8)
    killed = server.kill_worker()  # gunicorn replaces it; the burst goes on
    wait_acknowledged(60, 25)
    server.kill_all()  # the master and every worker at once
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert len(ledger.acknowledged) >= 20 and len(ledger.activated) >= 8, ledger.outcomes
    assert killed not in server.workers_pids()

    server.start()  # same port, same database
    check_database(deployment, accounts, ledger)
    check_activations(deployment, newcomers, ledger)
    # Acknowledged passwords sign in over HTTP after the restart (a sample): straight
    # to the service with a ticket, so no change and no charter is asked any more.
    sample = list(ledger.acknowledged.items())[:10] + list(ledger.activated.items())[:10]
    for login, password in sample:
        response = sign_in(new_session(), server.base, SERVICE, login, password)
        assert response.status_code == 302, (login, response.status_code)
        assert "ticket=" in response.headers["Location"]
    print(f"outcomes: {ledger.outcomes}")


def check_database(deployment: Deployment, accounts: list[str], ledger: Ledger) -> None:
    from sqlalchemy import select

    from cas_server.auth.hashing import verify_password
    from cas_server.storage.sql.db import make_engine
    from cas_server.storage.sql.models import AccountRow, PasswordHistoryRow

    engine = make_engine(deployment.database_url)
    try:
        with engine.connect() as conn:
            rows = {r.login: r for r in conn.execute(select(AccountRow))}
            history: dict[str, list[str]] = {}
            for h in conn.execute(
                select(PasswordHistoryRow).order_by(
                    PasswordHistoryRow.created_at, PasswordHistoryRow.id
                )
            ):
                history.setdefault(h.account_uuid, []).append(h.password_hash)
    finally:
        engine.dispose()
    problems = []
    for login in accounts:
        row = rows[login]
        kept = history.get(row.uuid, [])
        if not kept or kept[-1] != row.password_hash:
            problems.append(f"{login}: hash and newest history row disagree")
            continue
        changed = len(kept) == 2
        if len(kept) not in (1, 2):
            problems.append(f"{login}: {len(kept)} history rows")
        if changed == bool(row.must_change_password):
            problems.append(
                f"{login}: changed={changed} but must_change={row.must_change_password}"
            )
        if login in ledger.acknowledged:
            if not changed or not verify_password(ledger.acknowledged[login], row.password_hash):
                problems.append(f"{login}: acknowledged change lost")
        elif changed:
            # Not acknowledged (the server died first): whole, and one of the user's choices.
            if not any(verify_password(p, row.password_hash) for p in ledger.attempted[login]):
                problems.append(f"{login}: changed to a password nobody chose")
        elif not verify_password(INITIAL, row.password_hash):
            problems.append(f"{login}: unchanged but the initial password fails")
    assert not problems, problems[:10]


def check_activations(deployment: Deployment, newcomers: list[str], ledger: Ledger) -> None:
    """All of the activation form is stored, or none of it; acknowledged ones all of it."""
    from sqlalchemy import select

    from cas_server.accounts.joker import normalize_answer
    from cas_server.auth.hashing import verify_password
    from cas_server.storage.sql.db import make_engine
    from cas_server.storage.sql.models import (
        AccountRow,
        CharterAcceptanceRow,
        PasswordHistoryRow,
    )

    engine = make_engine(deployment.database_url)
    try:
        with engine.connect() as conn:
            rows = {
                r.login: r
                for r in conn.execute(select(AccountRow).where(AccountRow.login.in_(newcomers)))
            }
            history: dict[str, list[str]] = {}
            for h in conn.execute(select(PasswordHistoryRow)):
                history.setdefault(h.account_uuid, []).append(h.password_hash)
            charters: dict[str, list[tuple[str, str]]] = {}
            for c in conn.execute(select(CharterAcceptanceRow)):
                charters.setdefault(c.account_uuid, []).append((c.charter, c.version))
    finally:
        engine.dispose()
    problems = []
    counts = {"active": 0, "not_activated": 0}
    for login in newcomers:
        row = rows[login]
        by_mail = int(login[3:]) % 2 == 1
        kept = history.get(row.uuid, [])
        accepted = charters.get(row.uuid, [])
        if row.status == "active":
            counts["active"] += 1
            whole = (
                row.password_hash is not None
                and kept == [row.password_hash]
                and not row.must_change_password
                and row.joker_question == JOKER[0]
                and row.joker_answer_hash is not None
                and verify_password(normalize_answer(JOKER[1]), row.joker_answer_hash)
                and accepted == [CHARTER]
                and row.activation_code_hash is None
                and row.personal_email == newcomer_email(login, by_mail)
                # the proven address is marked verified; a new one is not yet
                and (row.personal_email_verified_at is not None) == by_mail
            )
            if not whole:
                problems.append(f"{login}: active but half-activated: {row}, {kept}, {accepted}")
                continue
            if login in ledger.activated:
                if not verify_password(ledger.activated[login], row.password_hash):
                    problems.append(f"{login}: acknowledged password not stored")
            elif not any(verify_password(p, row.password_hash) for p in ledger.attempted[login]):
                # Not acknowledged (the server died first): whole, and the user's choice.
                problems.append(f"{login}: activated with a password nobody chose")
        elif row.status == "not_activated":
            counts["not_activated"] += 1
            untouched = (
                row.password_hash is None
                and not kept
                and not accepted
                and row.joker_question is None
                and row.joker_answer_hash is None
                and row.personal_email == f"{login}@perso.example.net"
                and row.personal_email_verified_at is None
                and (row.activation_code_hash is None) == by_mail
            )
            if login in ledger.activated:
                problems.append(f"{login}: acknowledged activation lost")
            elif not untouched:
                problems.append(f"{login}: not activated but half-written: {row}, {kept}")
        else:
            problems.append(f"{login}: status {row.status}")
    assert not problems, problems[:10]
    assert counts["active"] >= len(ledger.activated), counts
    print(f"newcomers: {counts}")
