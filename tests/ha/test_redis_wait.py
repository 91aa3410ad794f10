"""``[redis] wait_replicas``: WAIT after ticket writes and consumption, its guarantee and its cost.

On a master with one replica, through the sentinels as production runs it:
a write or a consumption WAIT could not get replicated raises
``StoreUnavailable`` (the caller answers no success); and the cost of WAIT
on each operation, measured (printed; the bounds only catch a broken set-up).
"""

from __future__ import annotations

import os
import signal
import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cas_server.protocol.cas.ports import StoreUnavailable
from cas_server.protocol.cas.tickets import (
    Authentication,
    Principal,
    ServiceTicket,
    TicketGrantingTicket,
    new_ticket_id,
)
from cas_server.storage.redis.client import RedisSettings, make_client
from cas_server.storage.redis.tickets import RedisTicketRegistry
from tests.ha.conftest import unique_prefix
from tests.support.ha import RedisSentinelGroup, redis_sentinel_group

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NOW = time.time()
AUTH = Authentication(Principal("alice", {"mail": ("a@x.org",)}), NOW)
CYCLES = 300


@pytest.fixture(scope="module")
def group() -> Iterator[RedisSentinelGroup]:
    with redis_sentinel_group(replicas=1) as started:
        yield started


def registry(group: RedisSentinelGroup, replicas: int, timeout_ms: int = 200) -> Any:
    settings = RedisSettings(
        url="",
        sentinels=tuple(("127.0.0.1", int(a.rsplit(":", 1)[1])) for a in group.sentinel_addresses),
        service_name=group.service,
        socket_timeout=1.0,
        connect_timeout=0.5,
    )
    return RedisTicketRegistry(
        make_client(settings), unique_prefix(), wait_replicas=replicas, wait_ms=timeout_ms
    )


def session() -> TicketGrantingTicket:
    return TicketGrantingTicket(new_ticket_id("TGT"), AUTH, NOW, NOW + 3600, 600, NOW)


def ticket(tgt: TicketGrantingTicket) -> ServiceTicket:
    return ServiceTicket(
        id=new_ticket_id("ST"),
        service="https://app.example.org/",
        service_id="app",
        tgt_id=tgt.id,
        authentication=AUTH,
        from_new_login=False,
        created_at=NOW,
        expires_at=NOW + 300,
    )


def _timings(store: RedisTicketRegistry) -> dict[str, list[float]]:
    tgt = session()
    store.add_ticket_granting_ticket(tgt)
    spent: dict[str, list[float]] = {"grant": [], "consume": []}
    for _ in range(CYCLES):
        started = time.perf_counter()
        granted = store.grant_service_ticket(tgt.id, NOW + 1, ticket)
        spent["grant"].append(time.perf_counter() - started)
        assert granted is not None
        started = time.perf_counter()
        assert store.consume_service_ticket(granted.id) is not None
        spent["consume"].append(time.perf_counter() - started)
    return spent


def _p(values: list[float], q: float) -> float:
    return sorted(values)[int(q * (len(values) - 1))] * 1000


def test_what_wait_costs(group: RedisSentinelGroup) -> None:
    _timings(registry(group, 0))  # warm-up: scripts loaded, connections open
    without = _timings(registry(group, 0))
    with_wait = _timings(registry(group, 1))
    lines = []
    for op in ("grant", "consume"):
        a, b = without[op], with_wait[op]
        lines.append(
            f"{op}: p50 {_p(a, 0.5):.2f} -> {_p(b, 0.5):.2f} ms, "
            f"p95 {_p(a, 0.95):.2f} -> {_p(b, 0.95):.2f} ms"
        )
    print(f"\nWAIT 1 cost over {CYCLES} cycles (no WAIT -> WAIT 1): " + "; ".join(lines))
    assert statistics.median(with_wait["consume"]) < 0.2  # far below the 200 ms time-out


def test_a_write_or_consumption_no_replica_has_is_not_acknowledged(
    group: RedisSentinelGroup,
) -> None:
    store = registry(group, 1, timeout_ms=50)
    tgt = session()
    store.add_ticket_granting_ticket(tgt)
    granted = store.grant_service_ticket(tgt.id, NOW + 1, ticket)
    assert granted is not None
    # The replica stops taking the stream (as a frozen or partitioned replica).
    replica = group.replicas[0].process.pid
    os.killpg(replica, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.consume_service_ticket(granted.id)  # consumed on the master, not answered
        with pytest.raises(StoreUnavailable):
            store.add_ticket_granting_ticket(session())
        assert time.monotonic() - started < 1.0  # bounded by wait_timeout_ms, not a hang
        # Without WAIT the same store answers (replication stays asynchronous).
        registry(group, 0).add_ticket_granting_ticket(session())
    finally:
        os.killpg(replica, signal.SIGCONT)
    # The replica is back: acknowledged again, and the consumed ticket stays consumed.
    deadline = time.monotonic() + 10
    while True:
        try:
            store.add_ticket_granting_ticket(session())
            break
        except StoreUnavailable:
            assert time.monotonic() < deadline, "the replica did not come back"
            time.sleep(0.1)
    assert store.consume_service_ticket(granted.id) is None
