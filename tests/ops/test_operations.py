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
from cas_server.observability.logs import JsonFormatter, RequestIdFilter
from cas_server.protocol.cas.ports import StoreUnavailable
from tests.support.app import CasBrowser, make_account, test_overrides
from tests.support.paths import ROOT
from tests.support.ports import free_port
from tests.support.servers import RedisServer

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
    from cas_server.settings.server import ConfigError

    with pytest.raises(ConfigError) as error:
        build(db_path, **{section: values})
    assert error.value.key == key


# --- /metrics is not public by default (security review, issue 11 item 13) -----------

OUTSIDER = "203.0.113.5"


def _metrics(app: Flask, peer: str, **headers: str) -> int:
    client = app.test_client()
    return client.get("/metrics", environ_base={"REMOTE_ADDR": peer}, headers=headers).status_code


@pytest.fixture
def default_ops(db_path: Path) -> Iterator[Flask]:
    app = build(db_path)  # no [metrics] token, the default allow-list
    yield app
    app.extensions["cas"].engine.dispose()


def test_metrics_answer_only_loopback_by_default(default_ops: Flask) -> None:
    assert _metrics(default_ops, "127.0.0.1") == 200
    assert _metrics(default_ops, "127.3.2.1") == 200
    assert _metrics(default_ops, "::1") == 200
    assert _metrics(default_ops, OUTSIDER) == 403
    assert _metrics(default_ops, "10.0.0.7") == 403
    # Without trusted proxies a forwarded header is only a header.
    assert _metrics(default_ops, OUTSIDER, **{"X-Forwarded-For": "127.0.0.1"}) == 403
    # A reverse proxy on this host, not declared as trusted: its loopback address
    # stands for any outsider, which its forwarding header gives away.
    for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
        assert _metrics(default_ops, "127.0.0.1", **{header: OUTSIDER}) == 403, header
    # /health keeps its behaviour: the status for everyone.
    client = default_ops.test_client()
    health = client.get("/health", environ_base={"REMOTE_ADDR": OUTSIDER})
    assert health.status_code == 200 and health.get_json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("peer", "forwarded", "status"),
    [
        # An outsider through the local reverse proxy: its address is the client's.
        ("127.0.0.1", OUTSIDER, 403),
        ("127.0.0.1", f"127.0.0.1, {OUTSIDER}", 403),
        # Monitoring on the proxy's host, through the proxy.
        ("127.0.0.1", "127.0.0.1", 200),
        # Straight to the app (the proxy bypassed), forging the header.
        (OUTSIDER, "127.0.0.1", 403),
        ("127.0.0.1", None, 200),
    ],
)
def test_metrics_behind_a_trusted_proxy_cannot_be_opened_by_a_header(
    db_path: Path, peer: str, forwarded: str | None, status: int
) -> None:
    app = build(db_path, server={"trusted_proxies": 1})
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    assert _metrics(app, peer, **headers) == status
    app.extensions["cas"].engine.dispose()


def test_metrics_allow_list_and_token(db_path: Path) -> None:
    app = build(db_path, metrics={"allow": ["10.0.0.0/8"]})
    assert _metrics(app, "10.1.2.3") == 200
    assert _metrics(app, "127.0.0.1") == 403
    app.extensions["cas"].engine.dispose()
    # With a token, the token is required, from any address.
    app = build(db_path, metrics={"token": TOKEN})
    assert _metrics(app, "127.0.0.1") == 401
    assert _metrics(app, OUTSIDER, Authorization=f"Bearer {TOKEN}") == 200
    assert _metrics(app, OUTSIDER, Authorization="Bearer wrong") == 401
    app.extensions["cas"].engine.dispose()


@pytest.mark.parametrize("allow", [["not-an-address"], ["10.0.0.0/33"], "127.0.0.1", [7]])
def test_a_bad_metrics_allow_list_names_its_key(db_path: Path, allow: Any) -> None:
    from cas_server.settings.server import ConfigError

    with pytest.raises(ConfigError) as error:
        build(db_path, metrics={"allow": allow})
    assert error.value.key == "metrics.allow"


# --- mailed-link secrets stay out of the logs (security review, issue 11) -------------

SECRET = "Zk3-" + "s3cr3t_" * 5


def _secret_paths(app: Flask) -> list[str]:
    """The routes with a <secret> part, from the URL map (as the scrubber finds them)."""
    rules = [r.rule for r in app.url_map.iter_rules() if "secret" in r.arguments]
    assert any(rule.startswith("/sesame/password/reset/") for rule in rules), rules
    return [rule.replace("<secret>", SECRET) for rule in rules]


@pytest.fixture
def app_log(app: Flask) -> Iterator[Any]:
    """What the app's own log handlers (configure_logging) write."""
    import io

    stream = io.StringIO()
    handlers = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    assert handlers
    previous = [h.setStream(stream) for h in handlers]
    yield stream
    for handler, old in zip(handlers, previous, strict=True):
        handler.setStream(old)  # type: ignore[arg-type]


def test_a_failing_secret_link_writes_no_secret_to_the_app_log(
    app: Flask, app_log: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flask import request

    from cas_server.web.sesame import links

    def broken(path: str, secret: str) -> None:
        raise RuntimeError(f"cannot read the link {request.path}")

    monkeypatch.setattr(links, "_link_account", broken)
    client = app.test_client()
    for path in ("/sesame/password/reset/", "/sesame/password/temporary/"):
        assert client.get(path + SECRET).status_code == 500
    # The dev server's request line goes through the same handlers.
    for path in _secret_paths(app):
        logging.getLogger("werkzeug").info(
            '%s - - [%s] "%s" %s -', "127.0.0.1", "now", f"GET {path}?lang=fr HTTP/1.1", 200
        )
    written = app_log.getvalue()
    assert "unexpected error on GET /sesame/password/reset/…" in written
    assert "/sesame/password/temporary/…?lang=fr" in written
    assert "RuntimeError" in written  # the traceback is kept, without the secret
    assert SECRET not in written


def test_the_json_log_has_no_secret_either(app: Flask, app_log: Any) -> None:
    handlers = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    for handler in handlers:
        handler.setFormatter(JsonFormatter())
    try:
        raise ValueError(f"bad link /sesame/password/facts/{SECRET}")
    except ValueError:
        logging.getLogger("cas_server.x").exception("at /sesame/password/reset/%s", SECRET)
    line = app_log.getvalue()
    assert SECRET not in line and "/sesame/password/facts/…" in line
    build_text = logging.Formatter  # the text format again, for the tests that follow
    for handler in handlers:
        handler.setFormatter(build_text())


def test_gunicorn_access_and_error_logs_have_no_secret(app: Flask, tmp_path: Path) -> None:
    import datetime
    import runpy
    from types import SimpleNamespace

    from gunicorn.config import Config

    settings = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    cfg = Config()
    cfg.set("accesslog", str(tmp_path / "access.log"))
    cfg.set("errorlog", str(tmp_path / "error.log"))
    cfg.set("logger_class", settings["logger_class"])
    logger = cfg.logger_class(cfg)
    for path in _secret_paths(app):
        environ = {
            "REMOTE_ADDR": "192.0.2.1",
            "REQUEST_METHOD": "GET",
            "RAW_URI": f"{path}?lang=fr",
            "PATH_INFO": path,
            "QUERY_STRING": "lang=fr",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_REFERER": f"https://cas.example.org{path}",
        }
        response = SimpleNamespace(status="200 OK", sent=10, headers=[("Location", path)])
        request = SimpleNamespace(headers=[("Referer", environ["HTTP_REFERER"])])
        logger.access(response, request, environ, datetime.timedelta(milliseconds=5))
        logger.error("Error handling request %s", path)
    for handler in [*logger.access_log.handlers, *logger.error_log.handlers]:
        handler.flush()
    access = (tmp_path / "access.log").read_text()
    errors = (tmp_path / "error.log").read_text()
    assert '"GET /sesame/password/reset/…?lang=fr HTTP/1.1" 200' in access
    assert "/sesame/password/reset/…" in errors
    assert SECRET not in access and SECRET not in errors
    for handler in [*logger.access_log.handlers, *logger.error_log.handlers]:
        handler.close()


# --- issue 12 item 27: gunicorn's control socket ----------------------------------------


def _gunicorn_config(monkeypatch: pytest.MonkeyPatch, **environ: str) -> Any:
    """config/gunicorn.conf.py applied to a gunicorn Config, as ``gunicorn -c`` does."""
    import runpy

    from gunicorn.config import Config

    monkeypatch.delenv("GUNICORN_CONTROL_SOCKET", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    settings = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    cfg = Config()
    for name, value in settings.items():
        if name in cfg.settings:
            cfg.set(name, value)
    return cfg


def test_gunicorn_control_socket_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not in the home directory, shared by every instance on the machine."""
    cfg = _gunicorn_config(monkeypatch)
    assert cfg.control_socket_disable is True


def test_gunicorn_control_socket_where_the_instance_says(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    socket = tmp_path / "run" / "gunicorn.ctl"
    cfg = _gunicorn_config(monkeypatch, GUNICORN_CONTROL_SOCKET=str(socket))
    assert cfg.control_socket_disable is False
    assert cfg.control_socket == str(socket)
    assert cfg.control_socket_mode == 0o600


HELLO_APP = (
    "def app(environ, start_response):\n"
    "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
    "    return [b'ok']\n"
)


def _run_gunicorn(tmp_path: Path, **extra: str) -> tuple[Path, bool]:
    """Starts gunicorn with the shipped settings (one worker, a tiny app), then stops it.

    HOME is a fresh folder, returned for the test to look into, with whether
    the socket named by GUNICORN_CONTROL_SOCKET was there while it ran.
    """
    import os
    import signal
    import subprocess
    import sys
    import time

    import requests

    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "hello.py").write_text(HELLO_APP)
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GUNICORN_") and k != "XDG_RUNTIME_DIR"
    }
    env.update(HOME=str(home), GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="1", **extra)
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "-c",
                str(ROOT / "config" / "gunicorn.conf.py"),
                "--pythonpath",
                str(tmp_path),
                "hello:app",
            ],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if requests.get(f"http://127.0.0.1:{port}/", timeout=1).text == "ok":
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        wanted = extra.get("GUNICORN_CONTROL_SOCKET")
        while wanted and not Path(wanted).is_socket() and time.monotonic() < deadline:
            time.sleep(0.1)  # the control server starts in a thread of the master
        socket_seen = bool(wanted) and Path(str(wanted)).is_socket()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    return home, socket_seen


def test_gunicorn_puts_nothing_in_the_home_directory(tmp_path: Path) -> None:
    home, _ = _run_gunicorn(tmp_path)
    assert not (home / ".gunicorn").exists()
    assert list(home.iterdir()) == []


def test_gunicorn_control_socket_under_the_instance(tmp_path: Path) -> None:
    socket = tmp_path / "instance" / "gunicorn.ctl"
    home, seen = _run_gunicorn(tmp_path, GUNICORN_CONTROL_SOCKET=str(socket))
    assert seen, (tmp_path / "gunicorn.log").read_text()
    assert list(home.iterdir()) == []
