"""The Redis client shared by the Redis adapters, and how their errors surface.

A client is a lazy connection pool: building one opens no socket (the first
command does), so ``create_app`` stays free of I/O. Driver errors become
:class:`~cas_server.protocol.cas.ports.StoreUnavailable`, which the web layer
turns into "temporarily unavailable".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

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


def make_client(settings: RedisSettings) -> redis.Redis:
    """A pooled client; one retry without back-off replaces a connection Redis closed."""
    return redis.Redis.from_url(
        settings.url,
        decode_responses=True,
        socket_timeout=settings.socket_timeout,
        socket_connect_timeout=settings.connect_timeout,
        health_check_interval=30,
        retry=Retry(NoBackoff(), 1),
    )


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
