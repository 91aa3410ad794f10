"""Rising lockouts across two gunicorn nodes, through the shared counter store (issue #16).

Two nodes (separate gunicorn masters, 2 workers each) share the counters,
once in Redis and once in PostgreSQL: failures typed on either node count
for one login, each further lock lasts the next ``[login] lock_steps`` step
(short ones here: 2 s, 4 s, 8 s, on the real clock), the level is read from
the store itself, and a success on one node starts the steps over for both.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from cas_server.accounts.throttle import CounterStore
from tests.multinode.conftest import Browser
from tests.support.nodes import Node, create_accounts, launch_node, migrated, node_toml, wait_ready
from tests.support.servers import PostgresServer, RedisServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STEPS = (2.0, 4.0, 8.0)
MAX_FAILURES = 3


@pytest.fixture(scope="module", params=["redis", "sql"])
def rising(
    request: pytest.FixtureRequest,
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Node, Node, CounterStore]]:
    """Two nodes and the counter store they share (read directly by the test)."""
    from cas_server.storage.redis.client import RedisSettings, make_client
    from cas_server.storage.redis.counters import RedisCounterStore
    from cas_server.storage.sql.counters import SqlCounterStore

    backend = request.param
    name = f"rising_{uuid.uuid4().hex[:8]}"
    postgres_server.execute(f"CREATE DATABASE {name}")
    database_url = postgres_server.url(name)
    engine = migrated(database_url)
    folder = tmp_path_factory.mktemp(f"rising-{backend}")
    prefix = f"rising{uuid.uuid4().hex[:6]}:"
    config = node_toml(
        folder,
        secret=f"shared-by-every-node-{'r' * 40}",
        database_url=database_url,
        backend="redis" if backend == "redis" else "sql",
        counters=backend,
        extra=(
            f'[redis]\nurl = "{redis_server.url}"\nkey_prefix = "{prefix}"\n'
            f"[login]\nmax_failures_per_login = {MAX_FAILURES}\n"
            f"failure_window_seconds = 600\nlock_steps = {list(STEPS)}\n"
        ),
    )
    create_accounts(config, ["alice"])
    nodes = [launch_node(config, folder, n) for n in ("a", "b")]
    client = None
    try:
        wait_ready(*nodes)
        if backend == "redis":
            client = make_client(RedisSettings(redis_server.url))
            store: CounterStore = RedisCounterStore(client, prefix)
        else:
            store = SqlCounterStore(engine)
        yield nodes[0], nodes[1], store
    finally:
        for node in nodes:
            node.stop()
        if client is not None:
            client.close()
        engine.dispose()


def lock_left(store: CounterStore) -> float:
    until = store.locked_until("login:alice", time.time())
    return until - time.time() if until is not None else 0.0


def wait_for_the_end(store: CounterStore) -> None:
    time.sleep(lock_left(store) + 0.2)
    assert store.locked_until("login:alice", time.time()) is None


def test_the_steps_rise_across_nodes_and_a_success_starts_them_over(
    rising: tuple[Node, Node, CounterStore],
) -> None:
    a, b, store = rising
    browser = Browser()
    # Failures typed on either node count for the same login.
    codes = [browser.login((a, b)[n % 2], password="wrong").status_code for n in range(3)]
    assert codes == [401, 401, 429]
    assert store.level("login:alice", time.time()) == 1
    assert 0 < lock_left(store) <= STEPS[0]
    # Locked on both nodes, even with the right password.
    assert browser.login(a).status_code == 429 and browser.login(b).status_code == 429

    levels, lengths = [], []
    for node in (b, a):  # each further lock, typed on the other node, lasts longer
        wait_for_the_end(store)
        assert browser.login(node, password="wrong").status_code == 429
        levels.append(store.level("login:alice", time.time()))
        lengths.append(lock_left(store))
    assert levels == [2, 3]
    assert STEPS[0] < lengths[0] <= STEPS[1] < lengths[1] <= STEPS[2]

    # A right password on A once the lock is over: the level is gone for B too.
    wait_for_the_end(store)
    assert browser.login(a).status_code == 302
    assert store.level("login:alice", time.time()) == 0
    other = Browser()
    codes = [other.login(b, password="wrong").status_code for _ in range(3)]
    assert codes == [401, 401, 429]
    assert store.level("login:alice", time.time()) == 1
    assert lock_left(store) <= STEPS[0]
