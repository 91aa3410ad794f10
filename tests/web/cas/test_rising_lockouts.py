"""Rising lockouts and password spraying through /login and the console (issue #16, part 3).

The container's clock is a fake one: the login form, the throttle and the
console read it. Every lock message gives its end in the institution's zone
([i18n] timezone), in the reader's language.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from cas_server.accounts.model import Account
from tests.support.app import PASSWORD, CasBrowser, events
from tests.support.console import act, console_client
from tests.support.fakes import FakeClock
from tests.support.html import text
from tests.support.profile import person

APP = "https://app.example.org/"
ZONE = "Pacific/Noumea"  # UTC+11: a zone no test machine runs in


@pytest.fixture
def app_overrides() -> dict[str, dict[str, object]]:
    return {"i18n": {"timezone": ZONE}}


@pytest.fixture
def clock(app: Flask) -> Iterator[FakeClock]:
    c = app.extensions["cas"]
    real, c.clock = c.clock, FakeClock(real_now := c.clock.now())
    assert real_now > 0
    yield c.clock
    c.clock = real


@pytest.fixture
def alice(app: Flask) -> Account:
    return person(app, "alice")


def says_time(page: str, at: float) -> bool:
    """Whether the page gives ``at`` in the institution's zone, hours and minutes:
    "14:05" in English, "14 h 05" in French."""
    local = datetime.fromtimestamp(at, UTC).astimezone(ZoneInfo(ZONE))
    hours, minutes = local.strftime("%H"), local.strftime("%M")
    return f"{hours}:{minutes}" in page or f"{int(hours)} h {minutes}" in page


def fail_five(browser: CasBrowser, clock: FakeClock, login: str = "alice") -> list[int]:
    codes = []
    for _ in range(5):
        codes.append(browser.login(login, "wrong").status_code)
        clock.advance(1)
    return codes


def test_each_further_lock_lasts_longer_and_says_when_it_ends(
    app: Flask, alice: Account, clock: FakeClock
) -> None:
    browser = CasBrowser(app.test_client())
    browser.client.get("/login?lang=en")
    assert fail_five(browser, clock) == [401, 401, 401, 401, 429]
    first_end = clock.now() - 1 + 300  # locked by the fifth failure, for 5 minutes
    page = text(browser.login("alice", PASSWORD))
    assert "sign-in is suspended until" in page and says_time(page, first_end)
    clock.advance(300)  # that lock is over; within the window, one check
    second = browser.login("alice", "wrong")
    assert second.status_code == 429  # …which fails: locked again, for 15 minutes
    assert says_time(text(second), clock.now() + 900)
    assert browser.login("alice", PASSWORD).status_code == 429
    clock.advance(901)  # a new window: five more failures, and an hour, in French too
    assert fail_five(browser, clock) == [401, 401, 401, 401, 429]
    browser.client.get("/login?lang=fr")
    french = text(browser.login("alice", PASSWORD))
    assert "la connexion est suspendue jusqu" in french
    assert says_time(french, clock.now() - 1 + 3600)


def test_a_successful_sign_in_starts_the_steps_over(
    app: Flask, alice: Account, clock: FakeClock
) -> None:
    browser = CasBrowser(app.test_client())
    fail_five(browser, clock)
    clock.advance(301)
    assert browser.login("alice", "wrong").status_code == 429  # the second step
    clock.advance(901)
    assert browser.login("alice", PASSWORD, service=APP).status_code == 302
    other = CasBrowser(app.test_client())
    assert fail_five(other, clock)[-1] == 429
    page = text(other.login("alice", PASSWORD))
    assert says_time(page, clock.now() - 1 + 300)  # 5 minutes again


def test_a_password_written_lifts_the_lock_and_its_level(
    app: Flask, alice: Account, clock: FakeClock, runner: Any
) -> None:
    """Whichever path writes it (here the command line): the login starts over."""
    browser = CasBrowser(app.test_client())
    fail_five(browser, clock)
    throttle = app.extensions["cas"].login_throttle
    assert throttle.level("alice", clock.now()) == 1
    assert throttle.retry_at("alice", clock.now()) is not None
    result = runner.invoke(
        args=["users", "set-password", "alice", "--password-stdin"],
        input="Encore-Un-Secret-2029!\n",
    )
    assert result.exit_code == 0, result.output
    assert throttle.level("alice", clock.now()) == 0
    assert throttle.retry_at("alice", clock.now()) is None
    assert browser.login("alice", "Encore-Un-Secret-2029!", service=APP).status_code == 302


def test_spraying_one_address_locks_it_for_every_login(
    app: Flask, alice: Account, clock: FakeClock
) -> None:
    """20 distinct logins failing from one address ([login] max_logins_per_ip)."""
    sprayer = CasBrowser(app.test_client())
    sprayer.client.get("/login?lang=en")
    codes = [sprayer.login(f"guess{n:02d}", "Automne2026!").status_code for n in range(19)]
    assert codes == [401] * 19
    locked = sprayer.login("guess19", "Automne2026!")
    assert locked.status_code == 429 and says_time(text(locked), clock.now() + 300)
    # Every login from that address now, even the right password of a real account.
    assert sprayer.login("alice", PASSWORD, service=APP).status_code == 429
    assert [e.outcome for e in events(app, "login")][-1] == "throttled"
    # The logins themselves are not locked: from another address alice signs in.
    elsewhere = CasBrowser(app.test_client())
    response = elsewhere.client.post(
        "/login",
        data={
            "username": "alice",
            "password": PASSWORD,
            "service": APP,
            **elsewhere_token(elsewhere),
        },
        environ_base={"REMOTE_ADDR": "203.0.113.50"},
    )
    assert response.status_code == 302


def elsewhere_token(browser: CasBrowser) -> dict[str, str]:
    from tests.support.html import csrf

    page = browser.client.get("/login", environ_base={"REMOTE_ADDR": "203.0.113.50"})
    return {"csrf_token": csrf(page.get_data(as_text=True))}


def test_the_console_shows_the_lock_level_and_lifts_it(
    app: Flask, alice: Account, clock: FakeClock
) -> None:
    admin = console_client(app)
    browser = CasBrowser(app.test_client())
    fail_five(browser, clock)
    clock.advance(301)
    browser.login("alice", "wrong")  # level 2
    record = text(admin.get(f"/admin/accounts/{alice.uuid}"))
    assert "Lock level" in record
    assert "2 locks in a row; the next one lasts 60 minutes" in record
    clock.advance(901)  # the lock is over, the level remembered: still liftable
    record = text(admin.get(f"/admin/accounts/{alice.uuid}"))
    assert "Sign-in suspended" not in record and "Unlock" in record
    assert act(admin, alice.uuid, "unlock").status_code == 303
    assert "Lock level" not in text(admin.get(f"/admin/accounts/{alice.uuid}"))
    unlock = events(app, "admin_unlock")[-1]
    assert unlock.details["lock_level"] == 2
    # Started over: the next lock lasts 5 minutes.
    assert fail_five(browser, clock)[-1] == 429
    assert says_time(text(browser.login("alice", PASSWORD)), clock.now() - 1 + 300)


def test_the_console_says_the_lock_level_in_french(
    app: Flask, alice: Account, clock: FakeClock
) -> None:
    admin = console_client(app)
    admin.get("/login?lang=fr")
    fail_five(CasBrowser(app.test_client()), clock)
    record = text(admin.get(f"/admin/accounts/{alice.uuid}"))
    assert "Niveau de blocage" in record
    assert "1 blocage de suite ; le prochain durera 15 minutes" in record
