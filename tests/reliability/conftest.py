"""Reliability fixtures: real gunicorn servers that tests can kill, restart and starve.

Everything runs on 127.0.0.1, for a bounded time, and is stopped by a
finalizer. Servers started here (gunicorn, PostgreSQL, Redis) belong to the
test that started them, so a test may stop or kill them without harming any
other test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest
import requests

from tests.support.cli import run_cas_server
from tests.support.gunicorn import server_env, start_gunicorn, tail
from tests.support.html import csrf
from tests.support.paths import SERVICES
from tests.support.ports import free_port, wait_port
from tests.support.servers import missing

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (gunicorn's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return sorted(found)


@dataclass
class Deployment:
    """A configuration file and a SQLite (or given) database, migrated."""

    folder: Path
    config: Path
    database_url: str
    env: dict[str, str]

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_cas_server(self.env, *args, stdin=stdin, timeout=120)


def make_deployment(
    folder: Path, *, database_url: str | None = None, extra: str = ""
) -> Deployment:
    folder.mkdir(parents=True, exist_ok=True)
    url = database_url or f"sqlite:///{folder / 'db' / 'cas.sqlite3'}"
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    config = folder / "cas.toml"
    text = (
        "[server]\n"
        'mode = "test"\n'
        f'secret_key = "reliability-secret-{"r" * 40}"\n'
        "[database]\n"
        f"url = {url!r}\n"
        "[passwords]\n"
        "bcrypt_cost = 4\n"
        "[charters]\n"
        'path = ""\n'
        "[login]\n"
        "max_failures_per_login = 100000\n"
        "max_failures_per_ip = 100000\n"
        "[http]\n"
        "connect_timeout = 1.0\n"
        "read_timeout = 1.0\n"
        "[services]\n"
        f"paths = [{str(SERVICES)!r}]\n"
    )
    config.write_text(_merge(text, extra), encoding="utf-8")
    deployment = Deployment(folder, config, url, server_env(config))
    result = deployment.cli("db", "init")
    assert result.returncode == 0, result.stdout + result.stderr
    return deployment


def _merge(base: str, extra: str) -> str:
    """Append ``extra`` TOML; keys of a section already in ``base`` go into that section."""
    if not extra.strip():
        return base
    sections: dict[str, list[str]] = {}
    current = ""
    for line in extra.strip().splitlines():
        if line.startswith("[") and not line.startswith("[["):
            current = line.strip()
            sections.setdefault(current, [])
        else:
            sections.setdefault(current, []).append(line)
    out = base
    for header, lines in sections.items():
        body = "\n".join(lines) + "\n"
        if header and header + "\n" in out:
            out = out.replace(header + "\n", header + "\n" + body, 1)
        else:
            out += (header + "\n" if header else "") + body
    return out


@dataclass
class Gunicorn:
    """``gunicorn -c config/gunicorn.conf.py wsgi:app`` for one deployment, on a fixed port."""

    deployment: Deployment
    workers: int = 2
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.deployment.folder / f"gunicorn-{self.port}.log"

    def start(self) -> None:
        env = dict(self.deployment.env)
        env.update(
            GUNICORN_BIND=f"127.0.0.1:{self.port}",
            GUNICORN_WORKERS=str(self.workers),
            GUNICORN_WORKER_CLASS="gthread",
            GUNICORN_THREADS="4",
            GUNICORN_TIMEOUT="20",
            GUNICORN_ACCESSLOG="/dev/null",
            CAS_SERVER__PUBLIC_URL=self.base,
        )
        self.process = start_gunicorn(env, self.log, append=True)
        self.starts += 1
        self.wait_ready()

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited ({self.process.returncode}):\n{tail(self.log)}")
            try:
                answer = requests.get(self.base + "/login", timeout=2)
                if answer.status_code == 200 and len(self.workers_pids()) >= self.workers:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not answer within {timeout} s:\n{tail(self.log)}")
            time.sleep(0.1)

    def workers_pids(self) -> list[int]:
        return children(self.process.pid) if self.process else []

    def kill_worker(self) -> int:
        pid = self.workers_pids()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill_all(self) -> None:
        """kill -9 of the master and its workers at once (a crashed machine, an OOM kill)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)
        # Workers may outlive the master by a moment; the port must be free again.
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
            except OSError:
                return
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT)
        except ProcessLookupError:
            pass


@pytest.fixture
def servers() -> Iterator[list[Gunicorn]]:
    """Register every gunicorn a test starts here: all are stopped at the end."""
    started: list[Gunicorn] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    return make_deployment(tmp_path / "deployment")


def add_account(deployment: Deployment, login: str, password: str, **fields: Any) -> str:
    """An account created in the deployment's database (bcrypt cost 4); returns its uuid."""
    return add_accounts(deployment, [login], password, **fields)[0]


def add_accounts(
    deployment: Deployment, logins: list[str], password: str, must_change: bool = False
) -> list[str]:
    """Accounts sharing a password (bcrypt cost 4), in one connection pool."""
    from sqlalchemy import update

    from cas_server.accounts.model import Profile, Status
    from cas_server.auth.hashing import hash_password
    from cas_server.storage.sql.accounts import SqlAccountRepository
    from cas_server.storage.sql.db import make_engine
    from cas_server.storage.sql.models import AccountRow

    engine = make_engine(deployment.database_url)
    repository = SqlAccountRepository(engine)
    uuids = []
    try:
        for login in logins:
            account = repository.create(
                login,
                profile=Profile.STUDENT,
                status=Status.ACTIVE,
                password_hash=hash_password(password, 4),
                given_name="Test",
                family_name="User",
                attributes={"mail": [f"{login}@example.org"]},
            )
            uuids.append(account.uuid)
        if must_change:
            with engine.begin() as conn:
                conn.execute(
                    update(AccountRow)
                    .where(AccountRow.uuid.in_(uuids))
                    .values(must_change_password=True)
                )
        return uuids
    finally:
        engine.dispose()


def csrf_token(session: requests.Session, url: str) -> str:
    return csrf(session.get(url, timeout=20, allow_redirects=False).text)


def sign_in(
    session: requests.Session, base: str, service: str, login: str, password: str
) -> requests.Response:
    token = csrf_token(session, f"{base}/login?service={requests.utils.quote(service, safe='')}")
    return session.post(
        base + "/login",
        data={"username": login, "password": password, "csrf_token": token, "service": service},
        allow_redirects=False,
        timeout=30,
    )


# --- throwaway PostgreSQL and Redis (own instances: tests stop and restart them) ---------


def pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def need(reason: str) -> NoReturn:
    """Skip when a server is missing; under CI (CI set) that is a failure."""
    missing(reason, "install it with scripts/install-test-servers.sh")


@dataclass
class Postgres:
    folder: Path
    port: int
    bindir: Path

    def _as(self) -> list[str]:
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def ctl(self, *args: str) -> None:
        subprocess.run(
            [*self._as(), str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"
        )
        self.ctl("-l", str(self.folder / "pg.log"), "-w", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self.ctl("-m", mode, "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    import importlib.util

    bindir = pg_bin()
    if bindir is None:
        need("PostgreSQL server binaries are not installed")
    if importlib.util.find_spec("psycopg") is None:
        need("psycopg is not installed")
    assert bindir is not None
    folder = Path(tempfile.mkdtemp(prefix="cas-rel-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    server = Postgres(folder, free_port(), bindir)
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(folder / "data"), "-U", "postgres",
         "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Redis:
    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary
        with (self.folder / "redis.log").open("ab") as out:
            self.process = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.folder)],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        if wait_port(self.port, START_TIMEOUT):
            return
        pytest.fail(f"redis-server did not start: {tail(self.folder / 'redis.log')}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture
def redis_instance() -> Iterator[Redis]:
    if shutil.which("redis-server") is None:
        need("redis-server is not installed")
    folder = Path(tempfile.mkdtemp(prefix="cas-rel-redis-"))
    server = Redis(folder, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
