"""Issue 11 (security review), items 2, 7 and 8 on directory accounts (a real OpenLDAP).

OpenLDAP matches ``uid`` and ``mail`` (the default filter), and matches
compatibility forms too (fullwidth letters): many typed texts reach one
entry. The lockout counts per entry as well as per typed text, a burst gets
no more binds than the limit, and a locked entry (ours, or the directory's
own lock, told whatever the password) answers like a wrong password.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from cas_server.auth.ldap.pool import BindResult
from tests.auth.ldap.conftest import PEOPLE
from tests.support.app import CasBrowser
from tests.support.console import act, console_client
from tests.support.html import text

APP = "https://app.example.org/"
IVAN = f"uid=ivan,{PEOPLE}"  # no lockout in the directory's password policy
LIMIT = 5
SPELLINGS = ["ivan", "ｉvan", "ivan@example.org", "ＩＶＡＮ"]
CSRF_VALUE = re.compile(r'name="csrf_token" value="[^"]*"')
USERNAME_VALUE = re.compile(r'(id="username" name="username" value=")[^"]*(")')


def answer(response: TestResponse) -> tuple[int, str]:
    """Status and page, without the CSRF token and the echoed identifier."""
    html = CSRF_VALUE.sub("", response.get_data(as_text=True))
    return response.status_code, USERNAME_VALUE.sub(r"\1\2", html)


class Binds:
    """Counts the binds per DN (the directory's password checks), slowed down."""

    def __init__(self, bind: Callable[[str, str], BindResult], delay: float = 0.0) -> None:
        self.real = bind
        self.delay = delay
        self.by_dn: dict[str, int] = {}
        self.lock = threading.Lock()
        self.answer: Callable[[str, str], BindResult | None] = lambda dn, password: None

    def __call__(self, dn: str, password: str) -> BindResult:
        with self.lock:
            self.by_dn[dn] = self.by_dn.get(dn, 0) + 1
        time.sleep(self.delay)
        return self.answer(dn, password) or self.real(dn, password)

    def total(self) -> int:
        return sum(self.by_dn.values())


@pytest.fixture
def binds(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Binds]:
    pool = app.extensions["cas"].infra.ldap
    counter = Binds(pool.bind)
    monkeypatch.setattr(pool, "bind", counter)
    yield counter


def test_the_directory_matches_several_spellings(app: Flask) -> None:
    """The premise: every spelling below signs ivan in (before any failure)."""
    for spelling in SPELLINGS:
        client = app.test_client()
        assert CasBrowser(client).login(spelling, "ivanpass", service=APP).status_code == 302


def test_failures_on_one_spelling_lock_every_spelling(app: Flask, binds: Binds) -> None:
    browser = CasBrowser(app.test_client())
    for _ in range(LIMIT):
        assert browser.login("ivan", "wrong").status_code in (401, 429)
    assert binds.by_dn[IVAN] == LIMIT
    unknown = answer(browser.login("ｎobody", "ivanpass", service=APP))
    for spelling in SPELLINGS[1:]:
        response = browser.login(spelling, "ivanpass", service=APP)
        # Not signed in, and answered like a login nobody has.
        assert answer(response) == unknown
    assert binds.by_dn[IVAN] == LIMIT  # no more checks of ivan's password


def test_spellings_share_one_budget(app: Flask, binds: Binds) -> None:
    browser = CasBrowser(app.test_client())
    for i in range(2 * LIMIT):
        browser.login(SPELLINGS[i % len(SPELLINGS)], "wrong")
    assert binds.by_dn[IVAN] == LIMIT
    assert browser.login("ivan@example.org", "ivanpass", service=APP).status_code == 401


def test_a_locked_entry_costs_what_an_unknown_login_costs(app: Flask, binds: Binds) -> None:
    browser = CasBrowser(app.test_client())
    for _ in range(LIMIT):
        browser.login("ivan", "wrong")
    for login in ("ｉvan", "nobody-at-all"):
        before = binds.total()
        browser.login(login, "ivanpass")
        assert binds.total() - before == 1  # one bind (on a DN nobody has), as for anyone
        assert binds.by_dn[IVAN] == LIMIT


def test_a_parallel_burst_gets_at_most_the_limit_of_binds(app: Flask, binds: Binds) -> None:
    binds.delay = 0.05
    n = 20
    prepared = []
    for i in range(n):
        browser = CasBrowser(app.test_client())
        token = browser.csrf()
        data = {"username": SPELLINGS[i % len(SPELLINGS)], "password": f"w{i}", "csrf_token": token}
        prepared.append((browser.client, data))
    barrier = threading.Barrier(n)
    statuses: list[int] = []

    def send(client: Any, data: dict[str, str]) -> None:
        barrier.wait(timeout=30)
        statuses.append(client.post("/login", data=data).status_code)

    threads = [threading.Thread(target=send, args=item) for item in prepared]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(statuses) == n and set(statuses) <= {401, 429}
    assert binds.by_dn.get(IVAN, 0) <= LIMIT, binds.by_dn
    assert CasBrowser(app.test_client()).login("ivan", "ivanpass").status_code != 302


def test_a_directory_lock_answers_like_a_wrong_password(app: Flask) -> None:
    """erin is locked by the password policy, which says so whatever the password."""
    browser = CasBrowser(app.test_client())
    answers = {
        answer(browser.login(login, password, service=APP))
        for login, password in [("erin", "erinpass"), ("erin", "wrong"), ("nobody", "x")]
    }
    assert len(answers) == 1
    status, page = next(iter(answers))
    assert status == 401 and "bloqué" in page  # the message says an account may be locked


def test_an_active_directory_lock_answers_like_a_wrong_password(app: Flask, binds: Binds) -> None:
    """Active Directory's "data 775" comes whatever the password, too."""
    locked = BindResult(
        49, "80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data 775", None
    )
    binds.answer = lambda dn, password: locked if dn == IVAN else None
    client = app.test_client()
    client.get("/login?lang=en")
    browser = CasBrowser(client)
    answers = {
        answer(browser.login(login, password, service=APP))
        for login, password in [("ivan", "ivanpass"), ("ivan", "wrong"), ("nobody", "x")]
    }
    assert len(answers) == 1
    status, page = next(iter(answers))
    assert status == 401 and "blocked" in page and "Your account is locked" not in page


def test_the_console_shows_and_lifts_a_directory_entry_lock(app: Flask) -> None:
    assert CasBrowser(app.test_client()).login("ivan", "ivanpass").status_code == 200
    shadow = app.extensions["cas"].accounts.find_by_login("ivan")
    admin = console_client(app)
    browser = CasBrowser(app.test_client())
    # No typed text reaches the limit; the entry does.
    for spelling in ["ｉvan", "ivan@example.org", "ＩＶＡＮ", "ｉvan", "ivan@example.org"]:
        browser.login(spelling, "wrong")
    assert browser.login("ivan", "ivanpass", service=APP).status_code == 401
    assert "Sign-in suspended" in text(admin.get(f"/admin/accounts/{shadow.uuid}"))
    assert act(admin, shadow.uuid, "unlock").status_code == 303
    assert browser.login("ivan", "ivanpass", service=APP).status_code == 302
