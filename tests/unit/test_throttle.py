"""Throttling on every shared counter store: SQLite, PostgreSQL and Redis (real servers)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cas_server.accounts.throttle import CounterStore, Limit, Throttle
from cas_server.storage.redis_counters import RedisCounterStore
from cas_server.storage.redis_support import RedisSettings, make_client
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
