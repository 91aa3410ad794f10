"""Several nodes: separate gunicorn masters (as on separate hosts) sharing PostgreSQL and Redis.

Each node (:mod:`tests.support.nodes`) is ``gunicorn -c config/gunicorn.conf.py
wsgi:app`` with 2 gthread workers on its own free port, its own Prometheus
multi-process folder, and the same TOML: accounts in PostgreSQL, tickets and
throttling counters in Redis, one secret key. Each node runs in its own process
group, so killing the group with SIGKILL takes its master and workers down at
once, as a crashed host would.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support.app import PASSWORD
from tests.support.html import csrf
from tests.support.http import new_session
from tests.support.nodes import (
    SHARED_SECRET,
    Node,
    create_accounts,
    migrated,
    node_toml,
    start_nodes,
)
from tests.support.servers import PostgresServer, RedisServer

APP = "https://app.example.org/"
USERS = [f"user{n:02d}" for n in range(12)]
MAX_FAILURES = 3


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
    name = f"nodes_{uuid.uuid4().hex[:8]}"
    postgres_server.execute(f"CREATE DATABASE {name}")
    database_url = postgres_server.url(name)
    migrated(database_url).dispose()
    folder = tmp_path_factory.mktemp("cluster")
    prefix = f"nodes{uuid.uuid4().hex[:6]}:"
    config = node_toml(
        folder,
        secret=SHARED_SECRET,
        database_url=database_url,
        backend="redis",
        extra=(
            f'[redis]\nurl = "{redis_server.url}"\nkey_prefix = "{prefix}"\n'
            f"[login]\nmax_failures_per_login = {MAX_FAILURES}\n"
            '[logging]\nformat = "json"\n'
        ),
    )
    create_accounts(config, ["alice", "bob", *USERS])
    return Cluster(config, folder, database_url, redis_server.url, prefix)


@pytest.fixture(scope="module")
def nodes(cluster: Cluster) -> Iterator[tuple[Node, Node, Node]]:
    """Nodes A and B, and C, a spare for the test that kills one (started together)."""
    started = start_nodes(cluster.config, cluster.folder, ("a", "b", "c"))
    try:
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
