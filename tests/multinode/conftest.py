"""Several nodes: separate gunicorn masters (as on separate hosts) sharing PostgreSQL and Redis.

Each node is ``gunicorn -c config/gunicorn.conf.py wsgi:app`` with 2 gthread
workers on its own free port, its own Prometheus multi-process folder, and
the same TOML: accounts in PostgreSQL, tickets and throttling counters in
Redis, one secret key. Each node runs in its own process group, so killing
the group with SIGKILL takes its master and workers down at once, as a
crashed host would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support.app import PASSWORD
from tests.support.gunicorn import server_env, start_gunicorn, tail
from tests.support.html import csrf
from tests.support.http import new_session
from tests.support.paths import SERVICES
from tests.support.ports import free_port
from tests.support.servers import PostgresServer, RedisServer

APP = "https://app.example.org/"
USERS = [f"user{n:02d}" for n in range(12)]
MAX_FAILURES = 3
START_TIMEOUT = 30.0


@dataclass
class Node:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL the master and its workers (the whole process group)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Test servers hold nothing worth a graceful shutdown: the group goes at once."""
        self.kill()

    def tail(self) -> str:
        return tail(self.log, 3000)


@dataclass(frozen=True)
class Cluster:
    config: Path
    folder: Path
    database_url: str
    redis_url: str
    redis_prefix: str


@pytest.fixture(scope="module")
def cluster(
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Cluster:
    """The shared deployment: a fresh PostgreSQL database, a Redis prefix, one TOML."""
    from cas_server import create_app
    from cas_server.auth.hashing import hash_password
    from cas_server.storage.sql.db import make_engine
    from cas_server.storage.sql.migrate import upgrade

    name = f"nodes_{uuid.uuid4().hex[:8]}"
    postgres_server.execute(f"CREATE DATABASE {name}")
    database_url = postgres_server.url(name)
    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    folder = tmp_path_factory.mktemp("cluster")
    prefix = f"nodes{uuid.uuid4().hex[:6]}:"
    config = folder / "cas.toml"
    config.write_text(
        f"""
[server]
mode = "test"
secret_key = "shared-by-every-node-{"s" * 40}"
[database]
url = "{database_url}"
pool_size = 4
[tickets]
backend = "redis"
[counters]
backend = "redis"
[redis]
url = "{redis_server.url}"
key_prefix = "{prefix}"
[passwords]
bcrypt_cost = 4
[charters]
path = ""
[login]
max_failures_per_login = {MAX_FAILURES}
[http]
connect_timeout = 2.0
read_timeout = 2.0
[services]
paths = ["{SERVICES}"]
[logging]
format = "json"
""",
        encoding="utf-8",
    )
    app = create_app(config, environ={})
    accounts = app.extensions["cas"].accounts
    password_hash = hash_password(PASSWORD, 4)
    for login in ["alice", "bob", *USERS]:
        accounts.create(login, profile=_student(), password_hash=password_hash)
    app.extensions["cas"].engine.dispose()
    return Cluster(config, folder, database_url, redis_server.url, prefix)


def _student() -> object:
    from cas_server.accounts.model import Profile

    return Profile.STUDENT


def launch_node(cluster: Cluster, name: str) -> Node:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    metrics = cluster.folder / f"metrics-{name}"
    env = server_env(cluster.config)
    env.update(
        CAS_SERVER__PUBLIC_URL=url,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="2",
        GUNICORN_WORKER_CLASS="gthread",
        GUNICORN_ACCESSLOG="/dev/null",
        PROMETHEUS_MULTIPROC_DIR=str(metrics),
    )
    log = cluster.folder / f"{name}.log"
    # Its own process group: killpg takes it all down.
    return Node(name, url, start_gunicorn(env, log), log)


def wait_ready(*nodes: Node) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    waiting = list(nodes)
    while waiting:
        node = waiting[0]
        if node.process.poll() is not None:
            pytest.fail(f"node {node.name} exited ({node.process.returncode}):\n{node.tail()}")
        try:
            if requests.get(node.url + "/health", timeout=1.0).status_code == 200:
                waiting.pop(0)
                continue
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"node {node.name} not ready within {START_TIMEOUT} s:\n{node.tail()}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def nodes(cluster: Cluster) -> Iterator[tuple[Node, Node, Node]]:
    """Nodes A and B, and C, a spare for the test that kills one (started together)."""
    started = [launch_node(cluster, name) for name in ("a", "b", "c")]
    try:
        wait_ready(*started)
        yield started[0], started[1], started[2]
    finally:
        for node in started:
            node.stop()


class Browser:
    """One user agent, talking to any node: one cookie jar, as behind one URL."""

    def __init__(self) -> None:
        self.session = new_session()

    def get(self, node: Node, path: str, **params: str) -> requests.Response:
        return self.session.get(node.url + path, params=params, allow_redirects=False, timeout=10)

    def login(
        self,
        form_node: Node,
        post_node: Node | None = None,
        username: str = "alice",
        password: str = PASSWORD,
    ) -> requests.Response:
        """The form from one node, posted to another (shared secret key: CSRF holds)."""
        page = self.get(form_node, "/login", service=APP, renew="true")
        token = csrf(page.text)
        return self.session.post(
            (post_node or form_node).url + "/login",
            data={
                "username": username,
                "password": password,
                "csrf_token": token,
                "service": APP,
            },
            allow_redirects=False,
            timeout=10,
        )

    def sso(self, node: Node) -> requests.Response:
        return self.get(node, "/login", service=APP)


def ticket_of(response: requests.Response) -> str:
    assert response.status_code == 302, response.text[:800]
    tickets = parse_qs(urlsplit(response.headers["Location"]).query)["ticket"]
    return tickets[0]


def validate(node: Node, ticket: str) -> str:
    response = requests.get(
        node.url + "/p3/serviceValidate", params={"service": APP, "ticket": ticket}, timeout=10
    )
    assert response.status_code == 200
    return response.text
