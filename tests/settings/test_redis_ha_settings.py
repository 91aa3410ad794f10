"""[redis] sentinels, service_name, passwords and WAIT (sysadmin guide, "High availability")."""

from __future__ import annotations

from typing import Any

import pytest

from cas_server.settings.server import ConfigError, load_raw


def _redis(environ: dict[str, str] | None = None, **redis: Any) -> Any:
    from cas_server.settings.infrastructure import load_infra_settings

    raw = load_raw(
        environ=environ or {},
        overrides={"tickets": {"backend": "redis"}, "redis": redis},
    )
    return load_infra_settings(raw).redis


def test_the_defaults_keep_one_server_and_no_wait() -> None:
    settings = _redis(url="redis://127.0.0.1:6379/0")
    assert settings.sentinels == ()
    assert settings.service_name == "mymaster"
    assert (settings.wait_replicas, settings.wait_timeout_ms) == (0, 100)
    assert settings.password == settings.sentinel_password == ""


def test_sentinels_replace_the_url() -> None:
    settings = _redis(
        sentinels=["10.0.0.1:26379", "sentinel-b.example.org:26380", "[::1]:26381"],
        service_name="cas",
        wait_replicas=1,
        wait_timeout_ms=50,
        db=2,
    )
    assert settings.url == ""
    assert settings.sentinels == (
        ("10.0.0.1", 26379),
        ("sentinel-b.example.org", 26380),
        ("::1", 26381),
    )
    assert (settings.service_name, settings.db) == ("cas", 2)
    assert (settings.wait_replicas, settings.wait_timeout_ms) == (1, 50)


def test_passwords_come_from_the_environment() -> None:
    settings = _redis(
        environ={
            "CAS_REDIS__SENTINELS": "10.0.0.1:26379,10.0.0.2:26379",
            "CAS_REDIS__PASSWORD": "data-secret",
            "CAS_REDIS__SENTINEL_PASSWORD": "sentinel-secret",
        },
    )
    assert settings.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26379))
    assert (settings.password, settings.sentinel_password) == ("data-secret", "sentinel-secret")


def test_redis_backends_need_a_url_or_sentinels() -> None:
    with pytest.raises(ConfigError, match=r"redis\.url.*sentinels"):
        _redis()


@pytest.mark.parametrize(
    ("redis", "key"),
    [
        ({"sentinels": ["10.0.0.1"]}, "redis.sentinels"),
        ({"sentinels": ["10.0.0.1:0"]}, "redis.sentinels"),
        ({"sentinels": ["10.0.0.1:99999"]}, "redis.sentinels"),
        ({"sentinels": [":26379"]}, "redis.sentinels"),
        ({"sentinels": [26379]}, "redis.sentinels"),
        ({"sentinels": ["a:1", "a:1"]}, "redis.sentinels"),
        ({"sentinels": "a:1"}, "redis.sentinels"),
        ({"sentinels": ["a:1"], "service_name": " "}, "redis.service_name"),
        ({"url": "redis://x", "wait_replicas": -1}, "redis.wait_replicas"),
        ({"url": "redis://x", "wait_replicas": 11}, "redis.wait_replicas"),
        ({"url": "redis://x", "wait_replicas": True}, "redis.wait_replicas"),
        ({"url": "redis://x", "wait_timeout_ms": 0}, "redis.wait_timeout_ms"),
        ({"url": "redis://x", "wait_timeout_ms": 1.5}, "redis.wait_timeout_ms"),
        (
            {"url": "redis://x", "wait_replicas": 1, "wait_timeout_ms": 2000, "socket_timeout": 2},
            "redis.wait_timeout_ms",
        ),
        ({"url": "redis://x", "db": 16}, "redis.db"),
        ({"url": "http://x"}, "redis.url"),
    ],
)
def test_bad_values_name_their_key(redis: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as error:
        _redis(**redis)
    assert error.value.key == key


def test_the_client_asks_the_sentinels_for_the_master() -> None:
    """No connection is opened at build time; the pool is Sentinel's, with our time-outs."""
    from redis.sentinel import SentinelConnectionPool

    from cas_server.storage.redis.client import make_client

    settings = _redis(sentinels=["127.0.0.1:1", "127.0.0.1:2"], service_name="cas", password="pw")
    client = make_client(settings)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "cas"
    assert pool.connection_kwargs["password"] == "pw"
    assert pool.connection_kwargs["socket_timeout"] == settings.socket_timeout
    sentinels = pool.sentinel_manager.sentinels
    assert [s.connection_pool.connection_kwargs["port"] for s in sentinels] == [1, 2]
    assert sentinels[0].connection_pool.connection_kwargs["socket_timeout"] == 2.0
