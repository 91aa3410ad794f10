"""End-to-end fixtures: the real server under gunicorn, on a free port of 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support.app import PASSWORD
from tests.support.cli import run_cas_server
from tests.support.gunicorn import server_env, start_gunicorn, stop, wait_until_up
from tests.support.html import csrf
from tests.support.http import new_session
from tests.support.paths import SERVICES
from tests.support.ports import free_port


@dataclass(frozen=True)
class Deployment:
    config: Path
    env: dict[str, str]
    log: Path


def _cli(deployment: Deployment, *args: str, stdin: str | None = None) -> str:
    result = run_cas_server(deployment.env, *args, stdin=stdin, timeout=60)
    assert result.returncode == 0, f"cas-server {' '.join(args)}: {result.stdout}{result.stderr}"
    return result.stdout


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """A deployment directory: TOML configuration, migrated database, one account."""
    base = tmp_path_factory.mktemp("deployment")
    config = base / "cas.toml"
    config.write_text(
        "[server]\n"
        'mode = "test"\n'
        f'secret_key = "e2e-secret-key-{"y" * 40}"\n'
        "[database]\n"
        f'url = "sqlite:///{base / "cas.sqlite3"}"\n'
        "[passwords]\n"
        "bcrypt_cost = 4\n"
        "[charters]\n"
        'path = ""\n'
        "[http]\n"
        "connect_timeout = 2.0\n"
        "read_timeout = 2.0\n"
        "[services]\n"
        f"paths = [{str(SERVICES)!r}]\n",
        encoding="utf-8",
    )
    dep = Deployment(config=config, env=server_env(config), log=base / "gunicorn.log")
    assert "revision" in _cli(dep, "db", "init")
    _cli(
        dep,
        "users",
        "add",
        "alice",
        "--password-stdin",
        "--attribute",
        "mail=alice@example.org",
        "--attribute",
        "memberOf=a",
        "--attribute",
        "memberOf=b",
        "--profile",
        "student",
        stdin=PASSWORD + "\n",
    )
    return dep


@pytest.fixture(scope="session")
def server_url(deployment: Deployment) -> Iterator[str]:
    """Runs ``gunicorn -c config/gunicorn.conf.py wsgi:app`` (2 gthread workers)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(deployment.env)
    env.update(
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="2",
        GUNICORN_WORKER_CLASS="gthread",
        CAS_SERVER__PUBLIC_URL=base,
    )
    process = start_gunicorn(env, deployment.log)
    try:
        wait_until_up(process, base + "/login", 200, deployment.log, "gunicorn")
        yield base
    finally:
        stop(process)


class HttpBrowser:
    """A user agent over real HTTP: cookies kept, redirects not followed."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = new_session()

    def get(self, path: str, **params: str) -> requests.Response:
        return self.session.get(self.base + path, params=params, allow_redirects=False, timeout=10)

    def login(self, service: str, username: str = "alice", password: str = PASSWORD) -> str:
        """Sign in through the form; returns the service ticket from the redirect."""
        page = self.get("/login", service=service)
        assert page.status_code == 200, page.text[:500]
        response = self.session.post(
            self.base + "/login",
            data={
                "username": username,
                "password": password,
                "csrf_token": csrf(page.text),
                "service": service,
            },
            allow_redirects=False,
            timeout=10,
        )
        return ticket_from(response, service)

    def sso(self, service: str) -> str:
        """A service ticket from the existing session, without credentials."""
        return ticket_from(self.get("/login", service=service), service)


def ticket_from(response: requests.Response, service: str) -> str:
    assert response.status_code == 302, response.text[:800]
    location = response.headers["Location"]
    assert location.startswith(service), location
    tickets = parse_qs(urlsplit(location).query)["ticket"]
    assert len(tickets) == 1 and tickets[0].startswith("ST-"), location
    return tickets[0]


@pytest.fixture
def http_browser(server_url: str) -> Iterator[HttpBrowser]:
    browser = HttpBrowser(server_url)
    yield browser
    browser.session.close()
