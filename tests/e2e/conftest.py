"""End-to-end fixtures: the real server under gunicorn, on a free port of 127.0.0.1."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "tests" / "data" / "services.toml"
BIN = Path(sys.executable).parent
PASSWORD = "Correct-Horse-42!"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Deployment:
    config: Path
    env: dict[str, str]
    log: Path


def _cli(deployment: Deployment, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(BIN / "cas-server"), *args],
        input=stdin,
        env=deployment.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
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
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("CAS_") or k.startswith("GUNICORN"))
    }
    env["CAS_SERVER_CONFIG"] = str(config)
    dep = Deployment(config=config, env=env, log=base / "gunicorn.log")
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


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


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
    with deployment.log.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited ({process.returncode}):\n{_tail(deployment.log)}")
            try:
                if requests.get(base + "/login", timeout=1.0).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"gunicorn did not answer within {START_TIMEOUT} s:\n{_tail(deployment.log)}"
                )
            time.sleep(0.1)
        yield base
    finally:
        _stop(process)


def _tail(path: Path, size: int = 4000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-size:]
    except OSError:
        return "(no log)"


class HttpBrowser:
    """A user agent over real HTTP: cookies kept, redirects not followed."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.trust_env = False

    def get(self, path: str, **params: str) -> requests.Response:
        return self.session.get(self.base + path, params=params, allow_redirects=False, timeout=10)

    def login(self, service: str, username: str = "alice", password: str = PASSWORD) -> str:
        """Sign in through the form; returns the service ticket from the redirect."""
        page = self.get("/login", service=service)
        assert page.status_code == 200, page.text[:500]
        match = CSRF_RE.search(page.text)
        assert match, page.text[:500]
        response = self.session.post(
            self.base + "/login",
            data={
                "username": username,
                "password": password,
                "csrf_token": match.group(1),
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
