"""Several server nodes (separate gunicorn masters, as on separate hosts) on one TOML.

Shared by ``tests/multinode``, ``tests/ha`` and ``tests/ops/test_rolling_upgrade.py``:
the TOML every node reads (:func:`node_toml`), a PostgreSQL database with this tree's
migrations (:func:`migrated`), accounts made with the server's objects
(:func:`create_accounts`), and the nodes: ``gunicorn -c config/gunicorn.conf.py
wsgi:app`` with 2 gthread workers on a free port, its own Prometheus multi-process
folder (:func:`node_env`), in its own process group, so killing the group with SIGKILL
takes its master and workers down at once, as a crashed host would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.app import PASSWORD
from tests.support.gunicorn import server_env, start_gunicorn, tail
from tests.support.paths import SERVICES
from tests.support.ports import free_port

START_TIMEOUT = 30.0
SHARED_SECRET = "shared-by-every-node-" + "s" * 40  # the key of tests/multinode and tests/ha


def node_toml(
    folder: Path,
    *,
    secret: str,
    database_url: str,
    backend: str,
    counters: str | None = None,
    ticket_ttl: int | None = None,
    extra: str = "",
) -> Path:
    """``folder/cas.toml``: test mode, the shared ``secret`` key, accounts at
    ``database_url``, tickets in ``backend`` (counters too, unless ``counters``), bcrypt
    cost 4, no charter, short HTTP time-outs, the test services; ``extra`` adds sections
    ([redis], [login], [logging]...)."""
    ttl = "" if ticket_ttl is None else f"service_ticket_ttl = {ticket_ttl}\n"
    config = folder / "cas.toml"
    config.write_text(
        f"""
[server]
mode = "test"
secret_key = "{secret}"
[database]
url = "{database_url}"
pool_size = 4
[tickets]
backend = "{backend}"
{ttl}[counters]
backend = "{counters or backend}"
[passwords]
bcrypt_cost = 4
[charters]
path = ""
[http]
connect_timeout = 2.0
read_timeout = 2.0
[services]
paths = ["{SERVICES}"]
{extra}""",
        encoding="utf-8",
    )
    return config


def migrated(database_url: str) -> Any:
    """The engine of ``database_url`` once this tree's migrations are applied."""
    from cas_server.storage.sql.db import make_engine
    from cas_server.storage.sql.migrate import upgrade

    engine = make_engine(database_url)
    upgrade(engine)
    return engine


def create_accounts(config: Path, logins: list[str]) -> None:
    """Students with ``tests.support.app.PASSWORD``, made by the app on ``config``."""
    from cas_server import create_app
    from cas_server.accounts.model import Profile
    from cas_server.auth.hashing import hash_password

    app = create_app(config, environ={})
    accounts = app.extensions["cas"].accounts
    password_hash = hash_password(PASSWORD, 4)
    for login in logins:
        accounts.create(login, profile=Profile.STUDENT, password_hash=password_hash)
    app.extensions["cas"].engine.dispose()


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


def node_env(env: dict[str, str], port: int, folder: Path, name: str) -> dict[str, str]:
    """``env`` for node ``name`` on ``port``: its public URL, 2 gthread workers, no access
    log, its Prometheus folder in ``folder``."""
    return {
        **env,
        "CAS_SERVER__PUBLIC_URL": f"http://127.0.0.1:{port}",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
        "GUNICORN_WORKER_CLASS": "gthread",
        "GUNICORN_ACCESSLOG": "/dev/null",
        "PROMETHEUS_MULTIPROC_DIR": str(folder / f"metrics-{name}"),
    }


def launch_node(config: Path, folder: Path, name: str) -> Node:
    """Node ``name`` started on ``config`` (its log: ``folder/<name>.log``), not waited for."""
    port = free_port()
    log = folder / f"{name}.log"
    # Its own process group: killpg takes it all down.
    process = start_gunicorn(node_env(server_env(config), port, folder, name), log)
    return Node(name, f"http://127.0.0.1:{port}", process, log)


def wait_ready(*nodes: Node) -> None:
    """Until every node's /health answers 200; fails if one exits or is late."""
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


def start_nodes(config: Path, folder: Path, names: Sequence[str] = ("n0", "n1")) -> list[Node]:
    """The nodes started together and ready; if one is not, all are stopped."""
    nodes = [launch_node(config, folder, name) for name in names]
    try:
        wait_ready(*nodes)
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes
