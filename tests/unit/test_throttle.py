"""Throttling on the shared SQL counter store."""

from __future__ import annotations

import threading
from pathlib import Path

from cas_server.accounts.throttle import Limit, Throttle
from cas_server.storage.sql.counters import SqlCounterStore
from cas_server.storage.sql.db import make_engine
from cas_server.storage.sql.migrate import upgrade


def store(tmp_path: Path) -> SqlCounterStore:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    upgrade(engine)
    return SqlCounterStore(engine)


def test_lock_after_attempts_and_release_after_lock(tmp_path: Path) -> None:
    throttle = Throttle(store(tmp_path), Limit(attempts=3, window=60, lock=300), "login")
    assert throttle.failure("alice", 0) is None
    assert throttle.failure("alice", 1) is None
    assert throttle.failure("alice", 2) == 302
    assert throttle.retry_at("alice", 100) == 302
    assert throttle.retry_at("bob", 100) is None
    assert throttle.retry_at("alice", 303) is None


def test_window_restarts_and_success_resets(tmp_path: Path) -> None:
    throttle = Throttle(store(tmp_path), Limit(attempts=2, window=10, lock=60), "login")
    assert throttle.failure("alice", 0) is None
    assert throttle.failure("alice", 11) is None  # the first failure is out of the window
    throttle.success("alice")
    assert throttle.failure("alice", 12) is None


def test_concurrent_failures_all_count(tmp_path: Path) -> None:
    counters = store(tmp_path)
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
