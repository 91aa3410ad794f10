"""The backends one node shares with the others: ticket and counter stores, user sources.

Built once by ``create_app`` from :class:`~cas_server.settings.infrastructure.InfraSettings`.
Nothing here opens a connection: Redis and LDAP clients connect on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from ..accounts.directory import DirectoryPasswords
from ..accounts.throttle import CounterStore
from ..auth import UserSource
from ..protocol.cas.ports import SessionDirectory, TicketRegistry, TicketStore
from ..settings.infrastructure import InfraSettings
from ..storage.sql.accounts import SqlAccountRepository


@dataclass
class Infrastructure:
    """What a node shares with the others, built once by ``create_app``."""

    settings: InfraSettings
    tickets: TicketRegistry
    counters: CounterStore
    user_source: UserSource
    directories: dict[str, DirectoryPasswords]
    redis: Any = None  # redis.Redis
    ldap: Any = None  # LdapPool
    # The ticket store's own session listing (#15), not metered.
    sessions: SessionDirectory | None = None


def build_infrastructure(
    settings: InfraSettings,
    engine: Engine,
    accounts: SqlAccountRepository,
    local_source: UserSource,
) -> Infrastructure:
    from ..auth.chain import SourceChain
    from ..observability.metrics import MeteredTicketRegistry, MeteredUserSource
    from ..storage.sql.counters import SqlCounterStore
    from ..storage.sql.tickets import SqlTicketRegistry

    client = None
    if settings.redis is not None:
        from ..storage.redis.client import make_client

        client = make_client(settings.redis)
    tickets: TicketStore
    counters: CounterStore
    if settings.ticket_backend == "redis":
        assert client is not None
        from ..storage.redis.tickets import RedisTicketRegistry

        tickets = RedisTicketRegistry(
            client,
            settings.redis.key_prefix,
            wait_replicas=settings.redis.wait_replicas,
            wait_ms=settings.redis.wait_timeout_ms,
        )
    else:
        tickets = SqlTicketRegistry(engine)
    if settings.counter_backend == "redis":
        assert client is not None
        from ..storage.redis.counters import RedisCounterStore

        counters = RedisCounterStore(client, settings.redis.key_prefix)
    else:
        counters = SqlCounterStore(engine)

    pool = None
    directories: dict[str, DirectoryPasswords] = {}
    sources: list[UserSource] = []
    for name in settings.sources:
        if name == "local":
            sources.append(MeteredUserSource(local_source))
        else:
            from ..auth.ldap.passwords import LdapPasswordWriter
            from ..auth.ldap.pool import LdapPool
            from ..auth.ldap.source import LdapUserSource
            from ..storage.sql.shadow_accounts import SqlShadowAccounts

            pool = LdapPool(settings.ldap)
            ldap = LdapUserSource(pool, SqlShadowAccounts(engine, accounts))
            sources.append(MeteredUserSource(ldap))
            directories["ldap"] = LdapPasswordWriter(pool)
    source = MeteredUserSource(
        sources[0] if len(sources) == 1 else SourceChain(sources), overall=True
    )
    registry: Any = tickets
    if settings.ticket_backend == "sql" and engine.dialect.name != "sqlite":
        # A failover drops the connections: one retry where it is safe (storage/sql/retry.py).
        from ..storage.sql.retry import RetryingTicketRegistry

        registry = RetryingTicketRegistry(tickets)
    metered = MeteredTicketRegistry(registry)
    return Infrastructure(
        settings, metered, counters, source, directories, client, pool, sessions=tickets
    )
