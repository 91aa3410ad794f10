"""Every ticket store, for the contract suites (tickets, sessions) that must hold on each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cas_server.storage.memory import MemoryTicketRegistry
from cas_server.storage.redis.client import RedisSettings, make_client
from cas_server.storage.redis.tickets import RedisTicketRegistry
from cas_server.storage.sql.db import make_engine
from cas_server.storage.sql.migrate import upgrade
from cas_server.storage.sql.tickets import SqlTicketRegistry

STORES = ["memory", "sqlite", "postgresql", "redis"]


def ticket_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The store named by ``request.param`` (a fixture parametrized with :data:`STORES`)."""
    if request.param == "memory":
        yield MemoryTicketRegistry()
        return
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        client = make_client(RedisSettings(server.url))
        yield RedisTicketRegistry(client, request.getfixturevalue("redis_prefix"))
        client.close()
        return
    if request.param == "postgresql":
        engine = make_engine(request.getfixturevalue("postgres_url"))
    else:
        engine = make_engine(f"sqlite:///{tmp_path / 'tickets.sqlite3'}")
        upgrade(engine)
    yield SqlTicketRegistry(engine)
    engine.dispose()
