"""Throttling on every shared counter store: SQLite, PostgreSQL and Redis (real servers)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cas_server.accounts.throttle import Attempt, CounterStore, Grant, Limit, Throttle
from cas_server.storage.redis.client import RedisSettings, make_client
from cas_server.storage.redis.counters import RedisCounterStore
from cas_server.storage.sql.counters import SqlCounterStore
from cas_server.storage.sql.db import make_engine
from cas_server.storage.sql.migrate import upgrade


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def counters(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CounterStore]:
    if request.param == "redis":
        client = make_client(RedisSettings(request.getfixturevalue("redis_server").url))
        yield RedisCounterStore(client, request.getfixturevalue("redis_prefix"))
        client.close()
        return
    if request.param == "postgresql":
        engine = make_engine(request.getfixturevalue("postgres_url"))
    else:
        engine = make_engine(f"sqlite:///{tmp_path / 'c.sqlite3'}")
        upgrade(engine)
    yield SqlCounterStore(engine)
    engine.dispose()


def test_lock_after_attempts_and_release_after_lock(counters: CounterStore) -> None:
    throttle = Throttle(counters, Limit(attempts=3, window=60, lock=300), "login")
    assert throttle.failure("alice", 0) is None
    assert throttle.failure("alice", 1) is None
    assert throttle.failure("alice", 2) == 302
    assert throttle.retry_at("alice", 100) == 302
    assert throttle.retry_at("bob", 100) is None
    assert throttle.retry_at("alice", 303) is None


def test_window_restarts_and_success_resets(counters: CounterStore) -> None:
    throttle = Throttle(counters, Limit(attempts=2, window=10, lock=60), "login")
    assert throttle.failure("alice", 0) is None
    assert throttle.failure("alice", 11) is None  # the first failure is out of the window
    throttle.success("alice")
    assert throttle.failure("alice", 12) is None


def test_lock_needs_a_counter_and_survives_a_new_window(counters: CounterStore) -> None:
    counters.lock("login:nobody", 500.0)  # no failure counted: nothing to lock
    assert counters.locked_until("login:nobody", 1.0) is None
    assert counters.hit("login:carol", 0.0, 10) == 1
    counters.lock("login:carol", 500.0)
    assert counters.hit("login:carol", 20.0, 10) == 1  # a new window…
    assert counters.locked_until("login:carol", 30.0) == 500.0  # …keeps the lock
    counters.reset("login:carol")
    assert counters.locked_until("login:carol", 30.0) is None


def test_concurrent_failures_all_count(counters: CounterStore) -> None:
    barrier = threading.Barrier(10)
    counts: list[int] = []

    def hit() -> None:
        barrier.wait(timeout=10)
        counts.append(counters.hit("ip:1", 5.0, 60))

    threads = [threading.Thread(target=hit) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(counts) == list(range(1, 11))


# --- Reservations: an attempt is counted before it is checked (issue 11, item 7) -------


def test_a_burst_of_reservations_grants_exactly_the_limit(counters: CounterStore) -> None:
    """The store contract (issue 11, item 7): 20 reservations at the same instant, 5 taken."""
    barrier = threading.Barrier(20)
    grants: list[Grant] = []

    def take() -> None:
        barrier.wait(timeout=10)
        grants.append(counters.acquire("login:burst", 5.0, 60, 5, 300))

    threads = [threading.Thread(target=take) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(grants) == 20
    assert sorted(g.count for g in grants if g.granted) == [1, 2, 3, 4, 5]
    # The others were refused (so not checked), with a time to retry, and counted nothing.
    assert all(g.locked_until == 305.0 for g in grants if not g.granted)
    # No lock yet: the five taken may still be right. The one that fails at
    # the limit locks the key (Throttle.fail); a release frees an attempt.
    assert counters.locked_until("login:burst", 6.0) is None
    taken = next(g for g in grants if g.granted)
    counters.release("login:burst", taken.window_start)
    again = counters.acquire("login:burst", 6.0, 60, 5, 300)
    assert again.granted and again.count == 5


def test_reserve_then_fail_locks_at_the_limit(counters: CounterStore) -> None:
    throttle = Throttle(counters, Limit(attempts=3, window=60, lock=300), "login")
    for at in (0, 1):
        slot = throttle.reserve("alice", at)
        assert slot.granted
        assert throttle.fail(slot, at) is None
    third = throttle.reserve("alice", 2)
    assert third.granted and throttle.fail(third, 2) == 302
    locked = throttle.reserve("alice", 100)
    assert not locked.granted and locked.locked_until == 302
    assert throttle.retry_at("alice", 100) == 302
    assert throttle.reserve("bob", 100).granted
    # The lock is over and so is the window: a fresh count.
    again = throttle.reserve("alice", 303)
    assert again.granted and again.count == 1


def test_release_gives_the_attempt_back_and_success_resets(counters: CounterStore) -> None:
    throttle = Throttle(counters, Limit(attempts=2, window=60, lock=300), "ip")
    first = throttle.reserve("1.2.3.4", 0)
    throttle.release(first)  # e.g. the password was right
    second = throttle.reserve("1.2.3.4", 1)
    assert second.granted and second.count == 1
    assert throttle.reserve("1.2.3.4", 2).count == 2
    assert not throttle.reserve("1.2.3.4", 3).granted  # every attempt taken: refused
    throttle.success("1.2.3.4")
    assert throttle.reserve("1.2.3.4", 4).granted


def test_release_never_touches_a_newer_window(counters: CounterStore) -> None:
    throttle = Throttle(counters, Limit(attempts=2, window=10, lock=60), "login")
    old = throttle.reserve("carol", 0)
    assert throttle.reserve("carol", 20).count == 1  # a new window began
    throttle.release(old)  # the old window's attempt: nothing to give back now
    assert throttle.reserve("carol", 21).count == 2


def test_one_check_after_a_lock_that_ended_within_the_window(counters: CounterStore) -> None:
    """As before the reservations: once a lock is over, the next failure locks again."""
    throttle = Throttle(counters, Limit(attempts=2, window=1000, lock=10), "login")
    for at in (0, 1):
        assert throttle.fail(throttle.reserve("dave", at), at) in (None, 11)
    assert throttle.retry_at("dave", 5) == 11
    after = throttle.reserve("dave", 12)
    assert after.granted  # one check…
    concurrent = throttle.reserve("dave", 12)
    assert not concurrent.granted and concurrent.locked_until == 22  # …not two
    assert throttle.fail(after, 12) == 22


def test_attempt_bundles_reservations(counters: CounterStore) -> None:
    login = Throttle(counters, Limit(attempts=2, window=60, lock=300), "login")
    ip = Throttle(counters, Limit(attempts=10, window=60, lock=300), "ip")
    attempt = Attempt(0)
    assert attempt.reserve(login, "erin") and attempt.reserve(ip, "1.2.3.4")
    assert attempt.reserve(login, "account:x", told=False)
    assert attempt.reserve(login, "erin")  # the same key twice counts once
    assert attempt.failed() is None
    second = Attempt(1)
    assert second.reserve(login, "erin") and second.reserve(ip, "1.2.3.4")
    assert second.reserve(login, "account:x", told=False)
    # Both login keys locked; only the one that may be told is reported.
    assert second.failed() == 301
    assert login.retry_at("account:x", 2) == 301
    third = Attempt(2)
    assert not third.reserve(login, "erin") and third.refused_until == 301
    third.release()
    fourth = Attempt(3)
    assert fourth.reserve(login, "frank") and fourth.reserve(ip, "1.2.3.4")
    fourth.succeeded(reset=[login])
    assert ip.reserve("1.2.3.4", 4).count == 3  # released, not reset: the two failures stay


# --- Rising lockouts: the level lives in the shared store (issue 16, part 3) ----------

STEPS = (300.0, 900.0, 3600.0)


def test_lock_step_rises_and_is_capped_at_the_last_step(counters: CounterStore) -> None:
    assert counters.level("login:gina", 0.0) == 0
    assert counters.lock_step("login:gina", 0.0, STEPS, 1000) == (300.0, 1)
    assert counters.locked_until("login:gina", 10.0) == 300.0
    assert counters.level("login:gina", 10.0) == 1
    assert counters.lock_step("login:gina", 400.0, STEPS, 1000) == (1300.0, 2)
    assert counters.lock_step("login:gina", 1400.0, STEPS, 1000) == (5000.0, 3)
    assert counters.lock_step("login:gina", 5100.0, STEPS, 1000) == (8700.0, 4)  # capped
    assert counters.level("login:gina", 8800.0) == 4


def test_a_key_already_locked_keeps_its_lock_and_level(counters: CounterStore) -> None:
    assert counters.lock_step("login:hugo", 0.0, STEPS, 1000) == (300.0, 1)
    # A second failure at the limit while locked (concurrent checks): not a second lock.
    assert counters.lock_step("login:hugo", 10.0, STEPS, 1000) == (300.0, 1)
    assert counters.level("login:hugo", 10.0) == 1


def test_a_level_is_forgotten_after_its_memory_and_cleared_by_reset(
    counters: CounterStore,
) -> None:
    counters.lock_step("login:ines", 0.0, STEPS, 100)
    assert counters.level("login:ines", 399.0) == 1  # remembered until 300 + 100
    assert counters.level("login:ines", 401.0) == 0
    assert counters.lock_step("login:ines", 401.0, STEPS, 100) == (701.0, 1)  # starts over
    counters.lock_step("login:ines", 800.0, STEPS, 100)
    assert counters.level("login:ines", 800.0) == 2
    counters.reset("login:ines")  # a right password, a reset, the console's "lift"
    assert counters.level("login:ines", 800.0) == 0
    assert counters.locked_until("login:ines", 800.0) is None


def test_the_level_survives_a_new_counting_window(counters: CounterStore) -> None:
    throttle = Throttle(
        counters, Limit(attempts=2, window=60, lock=300, steps=STEPS, memory=86400), "login"
    )
    for at in (0.0, 1.0):
        until = throttle.fail(throttle.reserve("jules", at), at)
    assert until == 301.0 and throttle.level("jules", 2) == 1
    # The lock and the window are over: a fresh count, but the next lock is longer.
    first = throttle.reserve("jules", 400)
    assert first.granted and first.count == 1
    assert throttle.fail(first, 400) is None
    assert throttle.fail(throttle.reserve("jules", 401), 401) == 401 + 900
    assert throttle.level("jules", 402) == 2
    throttle.success("jules")
    assert throttle.level("jules", 402) == 0


def test_concurrent_lock_steps_raise_the_level_once(counters: CounterStore) -> None:
    barrier = threading.Barrier(10)
    answers: list[tuple[float, int]] = []

    def lock() -> None:
        barrier.wait(timeout=10)
        answers.append(counters.lock_step("ip:10.0.0.9", 50.0, STEPS, 1000))

    threads = [threading.Thread(target=lock) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert answers == [(350.0, 1)] * 10
    assert counters.level("ip:10.0.0.9", 51.0) == 1


def test_spread_counts_distinct_logins_once_each(counters: CounterStore) -> None:
    ip = Throttle(
        counters,
        Limit(attempts=100, window=60, lock=300, steps=STEPS, memory=1000, distinct=3),
        "ip",
    )
    assert ip.spread("10.1.1.1", "anna", 0) is None
    assert ip.spread("10.1.1.1", "anna", 1) is None  # the same login: not counted again
    assert ip.spread("10.1.1.1", "ben", 2) is None
    assert ip.spread("10.1.1.2", "carl", 3) is None  # another address
    assert ip.spread("10.1.1.1", "carl", 4) == 304.0  # the third distinct login: locked
    assert ip.retry_at("10.1.1.1", 5) == 304.0 and ip.level("10.1.1.1", 5) == 1
    assert not ip.reserve("10.1.1.1", 5).granted  # for every login
    assert ip.retry_at("10.1.1.2", 5) is None


def test_concurrent_spread_of_distinct_logins_locks_once(counters: CounterStore) -> None:
    ip = Throttle(
        counters,
        Limit(attempts=100, window=60, lock=300, steps=STEPS, memory=1000, distinct=5),
        "ip",
    )
    barrier = threading.Barrier(12)
    locks: list[float | None] = []

    def fail(n: int) -> None:
        barrier.wait(timeout=10)
        locks.append(ip.spread("10.2.2.2", f"user{n % 6}", 7.0))  # 6 distinct, 12 failures

    threads = [threading.Thread(target=fail, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [x for x in locks if x is not None] in ([307.0], [307.0, 307.0])
    assert ip.level("10.2.2.2", 8.0) == 1
