"""Directory and scale-out settings: user sources, ticket and counter backends, operations.

Reads ``[auth]``, ``[ldap]``, ``[redis]``, ``[tickets] backend``,
``[counters]``, ``[health]``, ``[metrics]`` and ``[logging]`` once, at
start-up, like :mod:`cas_server.settings.server` (a wrong value names its
key). The Redis and LDAP options land in the dataclasses their adapters
declare; :mod:`cas_server.runtime.infrastructure` builds the adapters.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..accounts.directory import SHADOW_FIELDS
from ..accounts.model import Profile
from .server import ConfigError

Raw = Mapping[str, Mapping[str, Any]]
SOURCES = ("local", "ldap")
BACKENDS = ("sql", "redis")
LOG_FORMATS = ("text", "json")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Who may read /metrics without a token: this host only.
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


@dataclass(frozen=True)
class OpsSettings:
    health_path: str = "/health"
    health_token: str = ""
    metrics_enabled: bool = True
    metrics_path: str = "/metrics"
    metrics_token: str = ""
    # Without a token, the addresses that may read the metrics (web/ops.py).
    metrics_allow: tuple[Network, ...] = LOOPBACK
    log_format: str = "text"
    log_level: str = "INFO"


@dataclass(frozen=True)
class InfraSettings:
    sources: tuple[str, ...]
    ticket_backend: str
    counter_backend: str
    redis: Any  # RedisSettings | None (imported lazily: redis is optional at run time)
    ldap: Any  # LdapConfig | None (likewise for ldap3)
    ops: OpsSettings = field(default_factory=OpsSettings)


def _get(data: Raw, section: str, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = data.get(section, {}).get(key, default)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise ConfigError(f"{section}.{key}", "must not be a boolean")
    if not isinstance(value, kinds):
        raise ConfigError(f"{section}.{key}", f"has the wrong type: {value!r}")
    return value


def _one_of(data: Raw, section: str, key: str, allowed: tuple[str, ...], default: str) -> str:
    value = str(_get(data, section, key, str, default))
    if value not in allowed:
        raise ConfigError(f"{section}.{key}", f"must be one of {', '.join(allowed)}")
    return value


def _seconds(data: Raw, section: str, key: str, default: float) -> float:
    value = float(_get(data, section, key, (int, float), default))
    if not 0 < value <= 600:
        raise ConfigError(f"{section}.{key}", "must be between 0 and 600 seconds")
    return value


def _path(data: Raw, section: str, default: str) -> str:
    value = str(_get(data, section, "path", str, default))
    if not value.startswith("/") or value == "/":
        raise ConfigError(f"{section}.path", "must be a path such as /health")
    return value


def _networks(data: Raw, section: str, key: str, default: list[str]) -> tuple[Network, ...]:
    """A list of addresses or CIDR networks (``127.0.0.1/8``, ``::1``, ``10.0.0.0/8``)."""
    values = _get(data, section, key, list, default)
    networks = []
    for value in values:
        if not isinstance(value, str):
            raise ConfigError(f"{section}.{key}", f"{value!r} is not an address or network")
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ConfigError(f"{section}.{key}", f"{value!r}: {exc}") from exc
    return tuple(networks)


def _table(data: Raw, key: str) -> dict[str, str]:
    table = _get(data, "ldap", key, dict, {})
    if not all(isinstance(v, str) for v in table.values()):
        raise ConfigError(f"ldap.{key}", "values must be strings")
    return {str(k): str(v) for k, v in table.items()}


def _ldap(data: Raw) -> Any:
    from ..auth.ldap.pool import LdapConfig

    urls = tuple(_get(data, "ldap", "urls", list, []))
    if not urls or not all(
        isinstance(u, str) and u.lower().startswith(("ldap://", "ldaps://")) for u in urls
    ):
        raise ConfigError("ldap.urls", "list the directory's ldap:// or ldaps:// URLs")
    base_dn = _get(data, "ldap", "base_dn", str, "")
    if not base_dn:
        raise ConfigError("ldap.base_dn", "required when auth.sources has ldap")
    user_filter = _get(data, "ldap", "user_filter", str, "")
    if "{login}" not in user_filter or not user_filter.startswith("("):
        raise ConfigError("ldap.user_filter", "must be an LDAP filter containing {login}")
    profiles = {k.casefold(): v for k, v in _table(data, "profiles").items()}
    allowed = {p.value for p in Profile}
    default_profile = _get(data, "ldap", "default_profile", str, "student")
    for value in (*profiles.values(), default_profile):
        if value not in allowed:
            raise ConfigError("ldap.profiles", f"{value!r}: profiles are {', '.join(allowed)}")
    account = _table(data, "account")
    unknown = set(account) - set(SHADOW_FIELDS)
    if unknown:
        raise ConfigError("ldap.account", f"unknown fields {sorted(unknown)}")
    pool_size = _get(data, "ldap", "pool_size", int, 4)
    if not 1 <= pool_size <= 100:
        raise ConfigError("ldap.pool_size", "must be between 1 and 100")
    config = LdapConfig(
        urls=urls,
        base_dn=base_dn,
        user_filter=user_filter,
        login_attribute=_get(data, "ldap", "login_attribute", str, "uid") or "uid",
        bind_dn=_get(data, "ldap", "bind_dn", str, ""),
        bind_password=_get(data, "ldap", "bind_password", str, ""),
        start_tls=_get(data, "ldap", "start_tls", bool, False),
        ca_file=_get(data, "ldap", "ca_file", str, "") or None,
        connect_timeout=_seconds(data, "ldap", "connect_timeout", 3.0),
        receive_timeout=_seconds(data, "ldap", "receive_timeout", 5.0),
        pool_size=pool_size,
        server_retry_after=int(_get(data, "ldap", "server_retry_after", int, 10)),
        password_policy=_get(data, "ldap", "password_policy", bool, True),
        password_write=_one_of(data, "ldap", "password_write", ("exop", "ad"), "exop"),
        profile_attribute=_get(data, "ldap", "profile_attribute", str, ""),
        profiles=profiles,
        default_profile=default_profile,
        account_fields=account,
        attributes=_table(data, "attributes"),
    )
    # Every sign-in sends the user's password to the directory in a bind: in
    # production, never in clear unless the deployment says so (a directory on
    # this host or over a private link). Tests and the demo use a local slapd.
    allow_plaintext = _get(data, "ldap", "allow_plaintext", bool, False)
    plain = config.plaintext_urls()
    mode = data.get("server", {}).get("mode", "production")
    if plain and mode == "production" and not allow_plaintext:
        raise ConfigError(
            "ldap.urls",
            f"{', '.join(plain)} would carry passwords in clear: use ldaps://, set "
            "[ldap] start_tls = true, or allow_plaintext = true if the link is private",
        )
    return config


def _sentinels(data: Raw) -> tuple[tuple[str, int], ...]:
    """``["host:26379", …]`` as (host, port) pairs."""
    values = _get(data, "redis", "sentinels", list, [])
    addresses = []
    for value in values:
        host, _, port = (
            str(value).strip().rpartition(":") if isinstance(value, str) else ("", "", "")
        )
        host = host.strip("[]")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError("redis.sentinels", f"{value!r} is not a host:port address")
        addresses.append((host, int(port)))
    if len(set(addresses)) != len(addresses):
        raise ConfigError("redis.sentinels", "an address is listed twice")
    return tuple(addresses)


def _redis(data: Raw) -> Any:
    """RedisSettings from ``url`` or ``sentinels``; None when neither is set."""
    url = _get(data, "redis", "url", str, "")
    sentinels = _sentinels(data)
    if not url and not sentinels:
        return None
    if url and not sentinels and not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("redis.url", "must be a redis://, rediss:// or unix:// URL")
    service = _get(data, "redis", "service_name", str, "mymaster")
    if sentinels and not service.strip():
        raise ConfigError("redis.service_name", "the name the sentinels monitor, required")
    db = _get(data, "redis", "db", int, 0)
    if not 0 <= db <= 15:
        raise ConfigError("redis.db", "must be between 0 and 15")
    replicas = _get(data, "redis", "wait_replicas", int, 0)
    if not 0 <= replicas <= 10:
        raise ConfigError("redis.wait_replicas", "must be between 0 and 10")
    wait_ms = _get(data, "redis", "wait_timeout_ms", int, 100)
    if not 1 <= wait_ms <= 10000:
        raise ConfigError("redis.wait_timeout_ms", "must be between 1 and 10000 milliseconds")
    socket_timeout = _seconds(data, "redis", "socket_timeout", 2.0)
    if replicas and wait_ms / 1000 >= socket_timeout:
        raise ConfigError(
            "redis.wait_timeout_ms", "must be shorter than socket_timeout (WAIT blocks the socket)"
        )
    from ..storage.redis.client import RedisSettings

    return RedisSettings(
        url=url,
        key_prefix=_get(data, "redis", "key_prefix", str, "cas:"),
        socket_timeout=socket_timeout,
        connect_timeout=_seconds(data, "redis", "connect_timeout", 2.0),
        sentinels=sentinels,
        service_name=service.strip(),
        password=_get(data, "redis", "password", str, ""),
        sentinel_password=_get(data, "redis", "sentinel_password", str, ""),
        db=db,
        wait_replicas=replicas,
        wait_timeout_ms=wait_ms,
    )


def load_infra_settings(data: Raw) -> InfraSettings:
    sources = tuple(_get(data, "auth", "sources", list, ["local"]))
    if not sources or any(s not in SOURCES for s in sources) or len(set(sources)) != len(sources):
        raise ConfigError("auth.sources", f"a list of distinct sources among {SOURCES}")
    tickets = _one_of(data, "tickets", "backend", BACKENDS, "sql")
    counters = _one_of(data, "counters", "backend", BACKENDS, "sql")
    redis = _redis(data)
    if redis is None and "redis" in (tickets, counters):
        raise ConfigError(
            "redis.url", "required (or redis.sentinels) when tickets or counters use redis"
        )
    level = str(_get(data, "logging", "level", str, "INFO")).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("logging.level", "one of DEBUG, INFO, WARNING, ERROR")
    ops = OpsSettings(
        health_path=_path(data, "health", "/health"),
        health_token=_get(data, "health", "token", str, ""),
        metrics_enabled=_get(data, "metrics", "enabled", bool, True),
        metrics_path=_path(data, "metrics", "/metrics"),
        metrics_token=_get(data, "metrics", "token", str, ""),
        metrics_allow=_networks(data, "metrics", "allow", ["127.0.0.1/8", "::1"]),
        log_format=_one_of(data, "logging", "format", LOG_FORMATS, "text"),
        log_level=level,
    )
    return InfraSettings(
        sources=sources,
        ticket_backend=tickets,
        counter_backend=counters,
        redis=redis,
        ldap=_ldap(data) if "ldap" in sources else None,
        ops=ops,
    )
