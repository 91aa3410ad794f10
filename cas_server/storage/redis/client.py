"""The Redis client shared by the Redis adapters, and how their errors surface.

A client is a lazy connection pool: building one opens no socket (the first
command does), so ``create_app`` stays free of I/O. Driver errors become
:class:`~cas_server.protocol.cas.ports.StoreUnavailable`, which the web layer
turns into "temporarily unavailable".

With ``sentinels`` the client asks Redis Sentinel for the master of
``service_name`` whenever it opens a connection: a connection the old master
dropped fails once, the retry reconnects to the master the sentinels name now.
While there is none (the seconds of a failover), commands fail
within the socket time-outs (``MasterNotFoundError`` or a refused connection),
never hang. :func:`wait_for_replicas` is the optional ``WAIT`` after ticket
writes and consumption (docs/sysadmin-guide.md, "High availability").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ...protocol.cas.ports import StoreUnavailable

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class RedisSettings:
    url: str
    key_prefix: str = "cas:"
    socket_timeout: float = 2.0
    connect_timeout: float = 2.0
    # Sentinel: ("host", port) pairs; empty: ``url`` names the one server.
    sentinels: tuple[tuple[str, int], ...] = ()
    service_name: str = "mymaster"
    password: str = ""
    sentinel_password: str = ""
    db: int = 0
    # WAIT after ticket writes and consumption: 0 = none.
    wait_replicas: int = 0
    wait_timeout_ms: int = 100


def make_client(settings: RedisSettings) -> redis.Redis:
    """A pooled client; one retry without back-off replaces a connection Redis closed."""
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.connect_timeout,
        "health_check_interval": 30,
        "retry": Retry(NoBackoff(), 1),
    }
    if not settings.sentinels:
        return redis.Redis.from_url(settings.url, **options)
    from redis.sentinel import Sentinel

    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(settings.sentinels),
        sentinel_kwargs={
            "socket_timeout": settings.socket_timeout,
            "socket_connect_timeout": settings.connect_timeout,
            "password": settings.sentinel_password or None,
        },
    )
    master: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        settings.service_name,
        password=settings.password or None,
        db=settings.db,
        **options,
    )
    return master


class ReplicationShortfall(redis.ConnectionError):
    """WAIT saw fewer replicas than required: the write may not survive a failover."""


def wait_for_replicas(
    client: redis.Redis,
    replicas: int,
    timeout_ms: int,
    script: Any,
    keys: list[str],
    args: list[Any],
) -> Any:
    """Run a registered Lua script, then ``WAIT`` on the same connection; the script's result.

    ``WAIT`` counts the replicas that have every write *this connection*
    sent, so both go in one pipeline (one round trip; no transaction). A
    Redis that does not know the script yet gets it loaded, and the pair is
    sent again. Fewer acknowledgements than ``replicas`` raise
    :class:`ReplicationShortfall` (a ``RedisError``: the adapters' callers see
    the store as unavailable and answer no success).
    """
    for attempt in (1, 2):
        with client.pipeline(transaction=False) as pipe:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
            pipe.wait(replicas, timeout_ms)
            result, acknowledged = pipe.execute(raise_on_error=False)
        if isinstance(result, redis.exceptions.NoScriptError) and attempt == 1:
            client.script_load(script.script)
            continue
        if isinstance(result, Exception):
            raise result
        if isinstance(acknowledged, Exception):
            raise acknowledged
        if int(acknowledged) < replicas:
            raise ReplicationShortfall(f"WAIT: {acknowledged} of {replicas} replicas")
        return result
    raise AssertionError("unreachable")  # pragma: no cover


def replicated(script: Any, replicas: int, timeout_ms: int) -> Any:
    """``script`` then ``WAIT`` (:func:`wait_for_replicas`); ``script`` itself for 0 replicas."""
    if replicas <= 0:
        return script

    def call(keys: Sequence[Any] = (), args: Sequence[Any] = ()) -> Any:
        return wait_for_replicas(
            script.registered_client, replicas, timeout_ms, script, list(keys), list(args)
        )

    return call


@contextmanager
def unavailable_on_error(what: str) -> Iterator[None]:
    try:
        yield
    except redis.RedisError as exc:
        log.error("redis unavailable during %s: %s", what, exc.__class__.__name__)
        raise StoreUnavailable(f"redis: {what}") from exc


def guarded(method: Callable[P, R]) -> Callable[P, R]:
    """Decorate an adapter method so a Redis error raises StoreUnavailable."""

    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with unavailable_on_error(method.__name__):
            return method(*args, **kwargs)

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper
