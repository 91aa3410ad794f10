"""Rising lockouts and password spraying (issue #16, part 3), on a fake clock.

The counters are the real SQL store (SQLite): the level lives where the
counts live, shared by every node. The clock only moves when the test says.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cas_server.accounts.model import Account, Profile, Status
from cas_server.accounts.throttle import Attempt, Limit, Throttle
from cas_server.auth import Failure, Rejected, Reserve, Success
from cas_server.auth.throttled import throttled_authenticate
from cas_server.settings.server import ConfigError, load_settings
from cas_server.storage.sql.counters import SqlCounterStore
from cas_server.storage.sql.db import make_engine
from cas_server.storage.sql.migrate import upgrade
from tests.support.fakes import FakeClock

STEPS = (300.0, 900.0, 3600.0)
WINDOW = 900.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlCounterStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'counters.sqlite3'}")
    upgrade(engine)
    yield SqlCounterStore(engine)
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def login_throttle(store: SqlCounterStore) -> Throttle:
    return Throttle(store, Limit(5, WINDOW, STEPS[0], steps=STEPS, memory=86400), "login")


def fail_until_locked(throttle: Throttle, clock: FakeClock, subject: str = "alice") -> float:
    """Fail (one attempt a second) until the subject is locked; returns the lock's end."""
    for _ in range(10):
        slot = throttle.reserve(subject, clock.now())
        assert slot.granted, "refused before any lock"
        until = throttle.fail(slot, clock.now())
        if until is not None:
            return until
        clock.advance(1)
    raise AssertionError("never locked")


def test_each_further_lock_lasts_the_next_step_capped_at_the_last(
    store: SqlCounterStore, clock: FakeClock
) -> None:
    throttle = login_throttle(store)
    lengths = []
    for _ in range(5):
        locked_at_start = clock.now()
        until = fail_until_locked(throttle, clock)
        lengths.append(until - clock.now())
        assert throttle.retry_at("alice", clock.now()) == until
        # Refused without a check until the end, on any attempt.
        clock.advance(until - clock.now() - 1)
        assert not throttle.reserve("alice", clock.now()).granted
        clock.advance(2)  # the lock is over
        assert clock.now() - locked_at_start < 86400
    # 5 failures: 5 min; then one check after each lock (a failure relocks): 15 min, 1 h, 1 h…
    assert lengths == [300.0, 900.0, 3600.0, 3600.0, 3600.0]
    assert throttle.level("alice", clock.now()) == 5


def test_after_a_new_window_the_next_lock_is_still_longer(
    store: SqlCounterStore, clock: FakeClock
) -> None:
    throttle = login_throttle(store)
    fail_until_locked(throttle, clock)
    clock.advance(WINDOW + 1)  # lock and window over: five new failures are needed…
    first = clock.now()
    until = fail_until_locked(throttle, clock)
    assert clock.now() - first == 4  # (five failures, one a second)
    assert until - clock.now() == 900.0  # …and they lock for the second step


def test_a_right_password_starts_the_steps_over(store: SqlCounterStore, clock: FakeClock) -> None:
    throttle = login_throttle(store)
    fail_until_locked(throttle, clock)
    clock.advance(301)
    assert fail_until_locked(throttle, clock) - clock.now() == 900.0
    clock.advance(901)
    throttle.success("alice")  # the right password
    assert throttle.level("alice", clock.now()) == 0
    assert fail_until_locked(throttle, clock) - clock.now() == 300.0


def test_the_level_is_forgotten_a_day_after_the_last_lock(
    store: SqlCounterStore, clock: FakeClock
) -> None:
    throttle = login_throttle(store)
    until = fail_until_locked(throttle, clock)
    clock.advance(until - clock.now() + 86400 - 10)
    assert throttle.level("alice", clock.now()) == 1
    clock.advance(20)
    assert throttle.level("alice", clock.now()) == 0
    assert fail_until_locked(throttle, clock) - clock.now() == 300.0


def test_without_steps_every_lock_lasts_the_same(store: SqlCounterStore, clock: FakeClock) -> None:
    fixed = Throttle(store, Limit(5, WINDOW, 600), "login")
    assert fail_until_locked(fixed, clock) - clock.now() == 600
    clock.advance(601)
    assert fail_until_locked(fixed, clock) - clock.now() == 600
    assert fixed.level("alice", clock.now()) == 0


def test_concurrent_failures_at_the_limit_lock_once(
    store: SqlCounterStore, clock: FakeClock
) -> None:
    """Two checks reserved at the limit (one attempt was given back between them)
    both fail: one lock, one level."""
    throttle = login_throttle(store)
    now = clock.now()
    slots = [throttle.reserve("alice", now) for _ in range(5)]
    throttle.release(slots.pop(1))  # e.g. a check that found nothing to check
    late = throttle.reserve("alice", now)
    assert late.granted and late.count == 5
    until = [throttle.fail(slot, now) for slot in [*slots, late]]
    assert [u for u in until if u is not None] == [now + 300.0, now + 300.0]
    assert throttle.level("alice", now) == 1


# --- Spraying: one address, many logins -------------------------------------------


class Directory:
    """A user source with one right password for everyone, counting its checks."""

    name = "local"

    def __init__(self) -> None:
        self.checks = 0

    def authenticate(self, login: str, password: str, reserve: Reserve) -> Success | Rejected:
        if not reserve(f"account:{login}"):
            return Rejected(Failure.INVALID_CREDENTIALS)
        self.checks += 1
        if password == "right":
            return Success(Account(login, login, Profile.STUDENT, Status.ACTIVE))
        return Rejected(Failure.INVALID_CREDENTIALS)


def spray_throttles(store: SqlCounterStore, distinct: int = 20) -> tuple[Throttle, Throttle]:
    login = login_throttle(store)
    ip = Throttle(
        store,
        Limit(50, WINDOW, STEPS[0], steps=STEPS, memory=86400, distinct=distinct),
        "ip",
    )
    return login, ip


def test_an_address_failing_for_many_logins_is_locked_for_all(
    store: SqlCounterStore, clock: FakeClock
) -> None:
    login, ip = spray_throttles(store)
    source = Directory()
    now = clock.now()
    for n in range(19):
        sign_in = throttled_authenticate(
            source, login, ip, f"user{n}", "Winter2026!", "198.51.100.7", now
        )
        assert isinstance(sign_in.result, Rejected) and sign_in.locked_until is None
    # The same login again is not a new one: no lock yet.
    again = throttled_authenticate(source, login, ip, "user3", "Spring2026!", "198.51.100.7", now)
    assert again.locked_until is None
    # The twentieth distinct login locks the address, told at once.
    sprayed = throttled_authenticate(source, login, ip, "user19", "x", "198.51.100.7", now)
    assert sprayed.locked_until == now + 300.0
    checks = source.checks
    # Every login from that address is refused before any check, even a right password…
    for name in ("user42", "alice"):
        refused = throttled_authenticate(source, login, ip, name, "right", "198.51.100.7", now + 1)
        assert refused.result is None and refused.locked_until == now + 300.0
    assert source.checks == checks
    # …while the logins themselves are not locked: from another address they sign in.
    ok = throttled_authenticate(source, login, ip, "user5", "right", "203.0.113.9", now + 1)
    assert isinstance(ok.result, Success)


def test_a_sprayed_address_rises_too(store: SqlCounterStore, clock: FakeClock) -> None:
    login, ip = spray_throttles(store, distinct=3)
    source = Directory()
    address = "198.51.100.8"

    def spray(first: int) -> float | None:
        last = None
        for n in range(first, first + 3):
            last = throttled_authenticate(
                source, login, ip, f"u{n}", "bad", address, clock.now()
            ).locked_until
        return last

    assert spray(0) == clock.now() + 300.0
    clock.advance(WINDOW + 1)  # lock and window over
    assert spray(10) == clock.now() + 900.0
    assert ip.level(address, clock.now()) == 2


def test_a_right_password_does_not_clear_the_address(
    store: SqlCounterStore, clock: FakeClock
) -> None:
    """The address keeps its failures (the attacker may hold one right password)."""
    login, ip = spray_throttles(store, distinct=3)
    source = Directory()
    now = clock.now()
    for name in ("a1", "a2"):
        throttled_authenticate(source, login, ip, name, "bad", "198.51.100.9", now)
    assert isinstance(
        throttled_authenticate(source, login, ip, "mine", "right", "198.51.100.9", now).result,
        Success,
    )
    assert throttled_authenticate(source, login, ip, "a3", "bad", "198.51.100.9", now).locked_until


def test_attempt_reports_the_rising_lock_of_a_told_key(
    store: SqlCounterStore, clock: FakeClock
) -> None:
    throttle = login_throttle(store)
    fail_until_locked(throttle, clock)
    clock.advance(301)
    attempt = Attempt(clock.now())
    assert attempt.reserve(throttle, "alice")
    assert attempt.failed() == clock.now() + 900.0


# --- Settings --------------------------------------------------------------------


def test_the_defaults_rise_five_fifteen_sixty(tmp_path: Path) -> None:
    loaded = load_settings(environ={}, overrides={"server": {"secret_key": "k" * 40}})
    assert loaded.login.lock_steps == (300.0, 900.0, 3600.0)
    assert loaded.login.first_lock == 300.0
    assert loaded.login.max_logins_per_ip == 20
    assert loaded.login.lock_level_memory == 86400.0


def test_no_steps_keeps_lock_seconds(tmp_path: Path) -> None:
    loaded = load_settings(
        environ={},
        overrides={"server": {"secret_key": "k" * 40}, "login": {"lock_steps": []}},
    )
    assert loaded.login.lock_steps == () and loaded.login.first_lock == 900.0


@pytest.mark.parametrize(
    "login",
    [
        {"lock_steps": [300, 0]},
        {"lock_steps": [900, 300]},
        {"lock_steps": ["5m"]},
        {"lock_steps": 300},
        {"max_logins_per_ip": -1},
        {"lock_level_memory": 0},
    ],
)
def test_bad_lock_settings_are_refused_clearly(login: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ={}, overrides={"server": {"secret_key": "k" * 40}, "login": login})
    assert "login." in str(raised.value)
