"""Issue 11 (security review), items 2, 7 and 8: the sign-in lockout on local accounts.

- Item 2: the lockout counts per account as well as per typed text, so an
  alias (or any other spelling that reaches the account) adds no guesses.
- Item 7: an attempt is counted before its password is checked, so a
  parallel burst gets no more real checks than the limit, on every form that
  checks a secret (sign-in, account link, current password, joker).
- Item 8: during a lock the answer is the same whatever the password and
  whether or not the account exists.

Real password checks are counted by wrapping the bcrypt check, slowed down
so that the requests of a burst overlap for sure.
"""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

import cas_server.auth.local as local_source
from cas_server.accounts.model import Account, Status
from tests.support.app import PASSWORD, CasBrowser, make_account
from tests.support.console import act, sign_in
from tests.support.html import text
from tests.support.profile import ProfileBrowser, person
from tests.support.sesame import SesameBrowser

APP = "https://app.example.org/"
BURST = 20
LIMIT = 5  # [login] max_failures_per_login, [profile] max_password_failures, joker_max_attempts
CSRF_VALUE = re.compile(r'name="csrf_token" value="[^"]*"')
USERNAME_VALUE = re.compile(r'(id="username" name="username" value=")[^"]*(")')
LOCK_END = re.compile(r"suspendue jusqu[^<]*")


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any]) -> dict[str, Any]:
    return sesame_overrides


@pytest.fixture
def alice(app: Flask) -> Account:
    account = person(app, "alice")
    app.extensions["admin"].store.set_alias(account.uuid, "ally")
    return account


def answer(response: TestResponse) -> tuple[int, str]:
    """What a person sees: the status and the page, without the CSRF token and the
    identifier they typed (echoed in the form)."""
    html = CSRF_VALUE.sub("", response.get_data(as_text=True))
    return response.status_code, USERNAME_VALUE.sub(r"\1\2", html)


class Checks:
    """Counts the bcrypt checks against given hashes (the real ones, not the decoy)."""

    def __init__(self, delay: float = 0.05) -> None:
        self.hashes: set[str] = set()
        self.count = 0
        self.total = 0
        self.delay = delay
        self.lock = threading.Lock()

    def watch(self, *hashes: str | None) -> None:
        self.hashes.update(h for h in hashes if h)

    def wrap(self, check: Callable[[str, str], bool]) -> Callable[[str, str], bool]:
        def counted(password: str, stored: str) -> bool:
            with self.lock:
                self.total += 1
                if stored in self.hashes:
                    self.count += 1
            time.sleep(self.delay)  # the requests of a burst overlap
            return check(password, stored)

        return counted


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Checks]:
    counter = Checks()
    monkeypatch.setattr(local_source, "verify_password", counter.wrap(local_source.verify_password))
    yield counter


def burst(prepare: Callable[[int], Callable[[], TestResponse]], n: int = BURST) -> list[int]:
    """``n`` requests at the same instant (each prepared beforehand: client, CSRF token…)."""
    sends = [prepare(i) for i in range(n)]
    barrier = threading.Barrier(n)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def run(send: Callable[[], TestResponse]) -> None:
        try:
            barrier.wait(timeout=30)
            statuses.append(send().status_code)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(send,)) for send in sends]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(statuses) == n
    return statuses


def login_post(app: Flask, username: str, password: str) -> Callable[[], TestResponse]:
    browser = CasBrowser(app.test_client())
    token = browser.csrf()
    data = {"username": username, "password": password, "csrf_token": token}
    return lambda: browser.client.post("/login", data=data)


def account_hash(app: Flask, login: str) -> str | None:
    account = app.extensions["cas"].accounts.find_by_login(login)
    return account.password_hash if account else None


# --- item 7: a burst gets at most the limit of real checks --------------------------------


def test_a_parallel_burst_of_sign_ins_gets_at_most_the_limit_of_checks(
    app: Flask, alice: Account, checks: Checks
) -> None:
    checks.watch(account_hash(app, "alice"))
    statuses = burst(lambda i: login_post(app, "alice", f"wrong-{i}"))
    assert checks.count <= LIMIT, checks.count
    assert set(statuses) <= {401, 429} and statuses.count(429) >= BURST - LIMIT
    # The login is locked: even the right password is refused now.
    assert CasBrowser(app.test_client()).login("alice", PASSWORD).status_code == 429


def test_a_burst_spread_over_the_login_and_the_alias_is_bounded_per_account(
    app: Flask, alice: Account, checks: Checks
) -> None:
    checks.watch(account_hash(app, "alice"))
    names = ["alice", "ALLY", "ally", " Alice"]
    burst(lambda i: login_post(app, names[i % len(names)], f"wrong-{i}"))
    assert checks.count <= LIMIT, checks.count


def test_a_burst_on_the_link_form_gets_at_most_the_limit_of_checks(
    app: Flask, alice: Account, checks: Checks
) -> None:
    other = person(app, "alice.parent", personal_email="alice.parent@example.net")

    def prepare(i: int) -> Callable[[], TestResponse]:
        browser = ProfileBrowser(app.test_client(), "en")
        browser.sign_in()
        token = browser.csrf("/profile/links")
        data = {"csrf_token": token, "other_login": "alice.parent", "other_password": f"w-{i}"}
        return lambda: browser.client.post("/profile/links", data=data)

    checks.watch(other.password_hash)
    sends = [prepare(i) for i in range(BURST)]
    burst(lambda i: sends[i])
    assert checks.count <= LIMIT, checks.count
    assert CasBrowser(app.test_client()).login("alice.parent", PASSWORD).status_code == 429


def test_a_burst_of_current_passwords_gets_at_most_the_limit_of_checks(
    app: Flask, alice: Account, checks: Checks
) -> None:
    def prepare(i: int) -> Callable[[], TestResponse]:
        browser = ProfileBrowser(app.test_client(), "en")
        browser.sign_in()
        token = browser.csrf("/profile/password")
        data = {
            "csrf_token": token,
            "current_password": f"Wrong-Password-{i}!",
            "new_password": "Nouveau-Secret-2027!",
            "confirm_password": "Nouveau-Secret-2027!",
        }
        return lambda: browser.client.post("/profile/password", data=data)

    sends = [prepare(i) for i in range(BURST)]  # the sign-ins are checks too: not counted
    checks.watch(account_hash(app, "alice"))
    statuses = burst(lambda i: sends[i])
    assert checks.count <= LIMIT, checks.count
    assert set(statuses) <= {400, 429} and statuses.count(429) >= BURST - LIMIT


def test_a_burst_of_joker_answers_gets_at_most_the_limit_of_checks(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    lea = make_account(app, "lea.martin", birth_date=date(2003, 11, 2), student_number="20181234")
    c = app.extensions["cas"]
    c.accounts.accept_charter(lea.uuid, "general", "2026-09")
    store = app.extensions["sesame"].store
    store.set_joker(
        lea.uuid, "first_school", c.passwords.hasher("ecole jules ferry"), datetime.now(UTC)
    )
    counter = Checks()
    counter.watch(store.recovery_info(lea.uuid).joker_answer_hash)
    monkeypatch.setattr(c.passwords, "verify", counter.wrap(c.passwords.verify))
    n = 12  # under the per-address request limit of the first step

    def prepare(i: int) -> Callable[[], TestResponse]:
        browser = SesameBrowser(app.test_client())
        page = browser.submit(
            "/sesame/password/joker",
            {"kind": "student_number", "identifier": "20181234", "birth_date": "02/11/2003"},
        )
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        return lambda: browser.post(
            "/sesame/password/joker/answer", {"joker_answer": f"wrong {i}"}, html
        )

    sends = [prepare(i) for i in range(n)]
    statuses = burst(lambda i: sends[i], n)
    assert counter.count <= LIMIT, counter.count
    assert set(statuses) <= {400, 429} and statuses.count(429) >= n - LIMIT


# --- item 2: one budget per account, whatever reaches it -------------------------------------


def test_the_alias_does_not_double_the_budget(app: Flask, alice: Account, checks: Checks) -> None:
    checks.watch(account_hash(app, "alice"))
    browser = CasBrowser(app.test_client())
    for name in ["alice", "ally", "alice", "ally", "alice", "ally", "alice", "ally"]:
        browser.login(name, "wrong")
    assert checks.count == LIMIT
    # Neither spelling signs in with the right password now.
    for name in ("alice", "ally", "ALLY"):
        assert browser.login(name, PASSWORD, service=APP).status_code != 302
    assert checks.count == LIMIT


def test_five_failures_on_the_login_lock_the_alias_too(app: Flask, alice: Account) -> None:
    browser = CasBrowser(app.test_client())
    for _ in range(LIMIT):
        browser.login("alice", "wrong")
    assert browser.login("ally", PASSWORD, service=APP).status_code != 302
    events = [e.details for e in audit_events(app) if e.outcome == "invalid_credentials"]
    assert events[-1].get("account_locked") is True


def test_an_unknown_login_still_costs_one_check_and_is_throttled_by_its_text(
    app: Flask, alice: Account, checks: Checks
) -> None:
    browser = CasBrowser(app.test_client())
    for _ in range(LIMIT - 1):
        before = checks.total
        assert browser.login("nobody", "wrong").status_code == 401
        assert checks.total - before == 1  # the decoy check, as for a wrong password
    assert browser.login("nobody", "wrong").status_code == 429
    # The account-locked case costs the same: one (decoy) check.
    for _ in range(LIMIT):
        browser.login("alice", "wrong")
    before = checks.total
    browser.login("ally", PASSWORD)
    assert checks.total - before == 1


# --- item 8: during a lock, the same answer for every password and every login -------------


def test_during_a_login_lock_the_answer_tells_nothing(app: Flask, alice: Account) -> None:
    browser = CasBrowser(app.test_client())
    for login in ("alice", "nobody"):
        for _ in range(LIMIT):
            browser.login(login, "wrong")
    # The two locks began a moment apart: their end (to the minute) is left out.
    answers = {
        (status, LOCK_END.sub("…", page))
        for login in ("alice", "nobody")
        for password in (PASSWORD, "wrong")
        for status, page in [answer(browser.login(login, password))]
    }
    assert len(answers) == 1 and next(iter(answers))[0] == 429


def test_during_an_account_lock_the_answer_is_that_of_an_unknown_login(
    app: Flask, alice: Account
) -> None:
    browser = CasBrowser(app.test_client())
    for _ in range(LIMIT):
        browser.login("alice", "wrong")
    # The alias reaches a locked account: answered like a wrong password, even
    # with the right one, and like a login nobody has.
    answers = {
        answer(browser.login(login, password))
        for login, password in [("ally", PASSWORD), ("ally", "wrong"), ("zoe", PASSWORD)]
    }
    assert len(answers) == 1
    assert next(iter(answers))[0] == 401


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("fr", ["Identifiant ou mot de passe incorrect", "trop d", "Mot de passe oublié"]),
        ("en", ["Invalid identifier or password", "too many", "Forgotten password"]),
    ],
)
def test_the_generic_message_explains_a_lock(
    app: Flask, alice: Account, lang: str, words: list[str]
) -> None:
    client = app.test_client()
    client.get(f"/login?lang={lang}")
    page = CasBrowser(client).login("nobody", "wrong").get_data(as_text=True)
    message = re.search(r'id="login-error"><a href="#username">([^<]*)<', page)
    assert message, page[:2000]
    for word in words:
        assert word.casefold() in html.unescape(message.group(1)).casefold(), message


def test_a_console_lock_is_told_only_with_the_right_password(app: Flask) -> None:
    make_account(app, "locked.user", status=Status.LOCKED)
    browser = CasBrowser(app.test_client())
    right = browser.login("locked.user", PASSWORD)
    assert right.status_code == 401 and "verrouillé" in right.get_data(as_text=True)
    assert answer(browser.login("locked.user", "wrong")) == answer(browser.login("nob", "wrong"))


def test_the_console_shows_and_lifts_the_account_lock(app: Flask, alice: Account) -> None:
    person(app, "root", roles=["admin"])
    admin = app.test_client()
    admin.get("/login?lang=en")
    sign_in(admin, "root")
    browser = CasBrowser(app.test_client())
    # Spread over two spellings: neither typed text reaches the limit, the account does.
    for name in ["alice", "ally", "alice", "ally", "alice"]:
        browser.login(name, "wrong")
    assert "Sign-in suspended" in text(admin.get(f"/admin/accounts/{alice.uuid}"))
    assert browser.login("alice", PASSWORD, service=APP).status_code == 401
    assert act(admin, alice.uuid, "unlock").status_code == 303
    assert browser.login("alice", PASSWORD, service=APP).status_code == 302


def audit_events(app: Flask) -> list[Any]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from cas_server.storage.sql.models import AuditEventRow

    with Session(app.extensions["cas"].engine) as session:
        return list(session.scalars(select(AuditEventRow).where(AuditEventRow.action == "login")))


def test_a_burst_of_activation_guesses_gets_at_most_the_limit_of_checks(app: Flask) -> None:
    """The activation start compares a number and a birth date: reserved first too."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from cas_server.accounts.model import Status
    from cas_server.storage.sql.models import AuditEventRow

    make_account(
        app,
        "nouveau",
        password=None,
        status=Status.NOT_ACTIVATED,
        birth_date=date(2006, 9, 1),
        student_number="22009999",
    )
    n = 12

    def prepare(i: int) -> Callable[[], TestResponse]:
        browser = SesameBrowser(app.test_client())
        html = browser.get("/sesame/activate").get_data(as_text=True)
        data = {
            "kind": "student_number",
            "identifier": "22009999",
            "birth_date": f"{i + 2:02d}/01/2006",
        }
        return lambda: browser.post("/sesame/activate", data, html)

    sends = [prepare(i) for i in range(n)]
    statuses = burst(lambda i: sends[i], n)
    with Session(app.extensions["cas"].engine) as s:
        compared = s.scalar(
            select(func.count()).where(
                AuditEventRow.action == "sesame_activation_start",
                AuditEventRow.outcome == "no_match",
            )
        )
    assert compared is not None and compared <= LIMIT, compared
    assert statuses.count(429) >= n - LIMIT, statuses
