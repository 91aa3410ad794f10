"""Operations (/health, metrics, request ids, JSON logs) and the Redis backends in the app."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cas_server import create_app
from cas_server.logs import JsonFormatter, RequestIdFilter
from cas_server.protocol.ports import StoreUnavailable
from tests.conftest import CasBrowser, make_account, test_overrides
from tests.servers import RedisServer, free_port

APP = "https://app.example.org/"
TOKEN = "t" * 40


def build(db_path: Path, **extra: dict[str, Any]) -> Flask:
    return create_app(overrides=test_overrides(db_path, **extra), environ={})


@pytest.fixture
def redis_app(db_path: Path, redis_server: RedisServer, redis_prefix: str) -> Iterator[Flask]:
    app = build(
        db_path,
        tickets={"backend": "redis"},
        counters={"backend": "redis"},
        redis={"url": redis_server.url, "key_prefix": redis_prefix},
        health={"token": TOKEN},
        metrics={"token": TOKEN},
    )
    yield app
    app.extensions["cas"].engine.dispose()


def metric(client: FlaskClient, line_start: str) -> float:
    page = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert page.status_code == 200
    for line in page.get_data(as_text=True).splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_sign_in_validate_and_logout_with_tickets_in_redis(redis_app: Flask) -> None:
    make_account(redis_app)
    client = redis_app.test_client()
    browser = CasBrowser(client)
    before = metric(client, 'cas_ticket_validations_total{outcome="success"}')
    ticket = browser.service_ticket(APP)
    first = client.get("/serviceValidate", query_string={"service": APP, "ticket": ticket})
    second = client.get("/serviceValidate", query_string={"service": APP, "ticket": ticket})
    assert "<cas:user>alice</cas:user>" in first.get_data(as_text=True)
    assert "INVALID_TICKET" in second.get_data(as_text=True)
    assert metric(client, 'cas_ticket_validations_total{outcome="success"}') == before + 1
    assert metric(client, 'cas_logins_total{outcome="success"}') >= 1
    assert "cas_ticket_store_seconds_bucket" in client.get(
        "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    ).get_data(as_text=True)
    sso = client.get("/login", query_string={"service": APP})
    assert sso.status_code == 302 and "ticket=ST-" in sso.headers["Location"]
    client.get("/logout")
    assert client.get("/login", query_string={"service": APP}).status_code == 200


def test_failures_are_counted_in_redis(redis_app: Flask) -> None:
    make_account(redis_app)
    browser = CasBrowser(redis_app.test_client())
    for _ in range(4):
        assert browser.login("alice", "wrong").status_code == 401
    assert browser.login("alice", "wrong").status_code == 429
    assert browser.login().status_code == 429  # locked, even with the right password


def test_health_tells_details_only_with_the_token(redis_app: Flask) -> None:
    client = redis_app.test_client()
    anonymous = client.get("/health")
    assert anonymous.status_code == 200 and anonymous.get_json() == {"status": "ok"}
    wrong = client.get("/health", headers={"Authorization": "Bearer nope"})
    assert wrong.get_json() == {"status": "ok"}
    detailed = client.get("/health", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert set(detailed["checks"]) == {"database", "redis"}
    assert all(check["ok"] for check in detailed["checks"].values())
    assert client.get("/metrics").status_code == 401


def test_a_dead_redis_is_unavailable_not_an_error(db_path: Path) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = build(
        db_path,
        tickets={"backend": "redis"},
        redis={"url": dead, "socket_timeout": 0.5, "connect_timeout": 0.5},
        health={"token": TOKEN},
    )
    make_account(app)
    client = app.test_client()
    health = client.get("/health")
    assert health.status_code == 503 and health.get_json() == {"status": "degraded"}
    checks = client.get("/health", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert checks["checks"]["redis"] == {
        "ok": False,
        "ms": checks["checks"]["redis"]["ms"],
        "error": "ConnectionError",
    }
    assert CasBrowser(client).login(service=APP).status_code == 503
    validation = client.get("/serviceValidate", query_string={"service": APP, "ticket": "ST-x"})
    assert "INVALID_TICKET" in validation.get_data(as_text=True)  # malformed: never asked
    real = "ST-" + "a" * 22
    answer = client.get("/serviceValidate", query_string={"service": APP, "ticket": real})
    assert "INTERNAL_ERROR" in answer.get_data(as_text=True)
    with pytest.raises(StoreUnavailable):
        app.extensions["cas"].tickets.purge_expired(0.0)
    app.extensions["cas"].engine.dispose()


def test_request_ids_are_kept_or_made_and_echoed(app: Flask, client: FlaskClient) -> None:
    given = client.get("/login", headers={"X-Request-Id": "nginx-abc.123"})
    assert given.headers["X-Request-Id"] == "nginx-abc.123"
    made = client.get("/login", headers={"X-Request-Id": "bad id <script>" + "x" * 200})
    assert len(made.headers["X-Request-Id"]) == 32 and "<" not in made.headers["X-Request-Id"]
    assert client.get("/login").headers["X-Request-Id"] != made.headers["X-Request-Id"]


def test_json_logs_carry_the_request_id(app: Flask) -> None:
    record = logging.LogRecord("cas_server.x", logging.INFO, "x.py", 1, "hello %s", ("you",), None)
    with app.test_request_context("/login", headers={"X-Request-Id": "rid-1"}):
        app.preprocess_request()
        RequestIdFilter().filter(record)
        line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hello you" and line["request_id"] == "rid-1"
    assert line["level"] == "INFO" and line["logger"] == "cas_server.x"


def test_logging_format_is_chosen_by_configuration(db_path: Path) -> None:
    build(db_path, logging={"format": "json"})
    handlers = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    assert handlers and all(isinstance(h.formatter, JsonFormatter) for h in handlers)
    build(db_path, logging={"format": "text"})
    assert not any(isinstance(h.formatter, JsonFormatter) for h in handlers)


@pytest.mark.parametrize(
    ("section", "values", "key"),
    [
        ("tickets", {"backend": "redis"}, "redis.url"),
        ("auth", {"sources": ["local", "kerberos"]}, "auth.sources"),
        ("auth", {"sources": ["local", "ldap"]}, "ldap.urls"),
        ("health", {"path": "health"}, "health.path"),
        ("logging", {"format": "xml"}, "logging.format"),
    ],
)
def test_bad_values_name_their_key(
    db_path: Path, section: str, values: dict[str, Any], key: str
) -> None:
    from cas_server.config import ConfigError

    with pytest.raises(ConfigError) as error:
        build(db_path, **{section: values})
    assert error.value.key == key
