"""Redis under Sentinel: SIGKILL the master under traffic; nothing acknowledged is lost.

A master, two replicas, three sentinels (down-after 1 s); two gunicorn
nodes with tickets and counters in Redis through the sentinels, and
``wait_replicas = 1``: every ticket write, consumption and logout is on a
replica before it is acknowledged. After the failover:

- every service ticket acknowledged and not validated yet still validates
  (0 lost writes); every ticket that validated once fails on the new master
  (0 double validations); no acknowledged logout's cookie gets a ticket;
- while there was no master, every answer was a quick 503 page or
  ``INTERNAL_ERROR`` (or a refused connection attempt by the client), never a
  500, never longer than the socket time-outs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ha.conftest import (
    USERS,
    Traffic,
    node_config,
    replay_ended_sessions,
    unexpected_errors,
    unique_prefix,
)
from tests.support.ha import RedisSentinelGroup, redis_sentinel_group
from tests.support.nodes import Node, create_accounts, migrated, start_nodes
from tests.support.servers import PostgresServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def group() -> Iterator[RedisSentinelGroup]:
    with redis_sentinel_group(replicas=2, down_after_ms=1000) as started:
        yield started


@pytest.fixture(scope="module")
def nodes(
    group: RedisSentinelGroup,
    postgres_server: PostgresServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[list[Node]]:
    name = f"ha_redis_{int(time.time() * 1000) % 10**8}"
    postgres_server.execute(f"CREATE DATABASE {name}")
    migrated(postgres_server.url(name)).dispose()
    folder: Path = tmp_path_factory.mktemp("ha-redis")
    sentinels = ", ".join(f'"{a}"' for a in group.sentinel_addresses)
    config = node_config(
        folder,
        postgres_server.url(name),
        "redis",
        f"""[redis]
sentinels = [{sentinels}]
service_name = "{group.service}"
key_prefix = "{unique_prefix()}"
socket_timeout = 1.0
connect_timeout = 0.5
wait_replicas = 1
wait_timeout_ms = 200
""",
    )
    create_accounts(config, USERS)
    started = start_nodes(config, folder)
    yield started
    for node in started:
        node.stop()


def test_a_killed_master_loses_nothing_acknowledged(
    group: RedisSentinelGroup, nodes: list[Node]
) -> None:
    traffic = Traffic(nodes, USERS)
    old_port = group.master.port

    def kill() -> float:
        time.sleep(4.0)  # traffic on the healthy group first
        group.kill_master()
        return time.monotonic()  # SIGKILL delivered: nothing after this can reach it

    killed_at = traffic.run(threads=6, during=kill, settle=3.0, limit=30.0)
    new_port = group.wait_new_master(old_port, timeout=5)
    assert new_port != old_port
    summary = traffic.summary(killed_at)

    # After the failover, on the new master.
    doubles = [t for t in traffic.validated if traffic.validate(nodes[0], t, "replay") == "success"]
    lost = [t for _at, t in traffic.pending if traffic.validate(nodes[1], t, "late") != "success"]
    resurrected = replay_ended_sessions(traffic)
    print(
        f"\nredis failover: {summary}; validated {len(traffic.validated)}, double {len(doubles)}; "
        f"pending {len(traffic.pending)}, lost {len(lost)}; logouts {len(traffic.ended)}, "
        f"tickets for ended sessions {resurrected}; new master :{new_port}"
    )
    assert summary["outage_s"] is not None, "no success after the kill"
    assert float(summary["outage_s"]) < 10.0  # type: ignore[arg-type]
    assert doubles == []
    assert lost == []
    assert resurrected == 0
    assert len(traffic.validated) > 20 and len(traffic.pending) > 5 and traffic.ended
    # No master: quick "unavailable" answers, never a 500 or a hang.
    failures = {e.status for e in traffic.events if not e.ok and e.op not in ("replay", "late")}
    assert failures <= {"503", "INTERNAL_ERROR"}, (failures, unexpected_errors(nodes))
    assert float(summary["slowest_s"]) < 5.0  # type: ignore[arg-type]
