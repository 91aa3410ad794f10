"""A rolling upgrade from the previous release, under traffic, with 0 failed requests.

The previous release (``git archive 7c864e0``, into a temporary folder) runs
with this virtualenv through ``PYTHONPATH``; this checkout is the new one.
Two gunicorn nodes share one PostgreSQL database (accounts, tickets and
counters in SQL, so the schema changes meet the old code):

1. the database is created and filled by the old release, two old nodes serve;
2. a bounded stream of sign-ins (form from one node, posted to another), SSO
   tickets and validations runs against both, through the balancer this test
   plays (round robin over the nodes in rotation, as nginx would);
3. ``cas-server db upgrade`` of the new release applies every migration of this
   tree while the old nodes serve; the schema must stay *expand only* for the
   old code (reflection before/after: no table or column gone, none changed,
   every new column of an old table nullable or with a server default);
4. node A leaves the rotation (drained: its requests in flight end), is stopped
   (SIGTERM) and comes back with the new release; old B and new A serve
   together: sessions and tickets of either release work on the other;
5. the same for B. Every request of every phase must succeed.
"""

from __future__ import annotations

import random
import subprocess
import tarfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support.app import PASSWORD
from tests.support.gunicorn import server_env, start_gunicorn, stop, tail, wait_until_up
from tests.support.html import csrf
from tests.support.http import new_session
from tests.support.nodes import node_env, node_toml
from tests.support.paths import BIN, ROOT
from tests.support.ports import free_port
from tests.support.servers import PostgresServer, missing

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PREVIOUS_RELEASE = "7c864e0"
APP = "https://app.example.org/"
USERS = [f"roll{n:02d}" for n in range(6)]
PHASE_SECONDS = 3.0  # traffic in each phase, at least
MIN_PER_PHASE = 40
PAUSE = 0.05  # seconds each simulated user waits between two steps: a bounded stream
REQUEST_TIMEOUT = 20.0


# --- the two releases -------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    name: str
    tree: Path

    def env(self, config: Path) -> dict[str, str]:
        env = server_env(config)
        env.pop("PYTHONPATH", None)
        if self.tree != ROOT:  # the old code first, before this venv's editable install
            env["PYTHONPATH"] = str(self.tree)
        return env

    def command(self, config: Path, *args: str, timeout: float = 180) -> str:
        done = subprocess.run(
            [str(BIN / "python"), "-m", "cas_server.cli", *args],
            cwd=self.tree,
            env=self.env(config),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, f"{self.name}: cas-server {args}: {done.stdout}{done.stderr}"
        return done.stdout

    def python(self, config: Path, code: str, *args: str) -> None:
        done = subprocess.run(
            [str(BIN / "python"), "-c", code, *args],
            cwd=self.tree,
            env=self.env(config),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def previous(tmp_path_factory: pytest.TempPathFactory) -> Release:
    tree = tmp_path_factory.mktemp("previous-release")
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", PREVIOUS_RELEASE],
        capture_output=True,
        timeout=120,
        check=False,
    )
    if archive.returncode != 0:
        missing(f"git archive {PREVIOUS_RELEASE} failed: {archive.stderr.decode()[-500:]}")
    archive_file = tree / "release.tar"
    archive_file.write_bytes(archive.stdout)
    with tarfile.open(archive_file) as tar:
        tar.extractall(tree, filter="data")
    archive_file.unlink()
    # As `make install` would: its compiled catalogs (not in git).
    subprocess.run(
        [str(BIN / "pybabel"), "-q", "compile", "-d", str(tree / "cas_server" / "translations")],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return Release(PREVIOUS_RELEASE, tree)


CURRENT = Release("current", ROOT)

SEED = """
import sys
from cas_server import create_app
from cas_server.accounts.model import Profile
from cas_server.auth.hashing import hash_password
app = create_app(environ={"CAS_SERVER_CONFIG": sys.argv[1]})
accounts = app.extensions["cas"].accounts
password_hash = hash_password(sys.argv[2], 4)
for login in sys.argv[3:]:
    accounts.create(login, profile=Profile.STUDENT, password_hash=password_hash)
"""


def write_config(folder: Path, database_url: str, redis_url: str | None) -> Path:
    """One TOML for both releases: only keys the previous release knows."""
    backend = "sql" if redis_url is None else "redis"
    redis = (
        ""
        if redis_url is None
        else (f'[redis]\nurl = "{redis_url}"\nkey_prefix = "roll{uuid.uuid4().hex[:6]}:"\n')
    )
    return node_toml(
        folder,
        secret=f"rolling-upgrade-shared-{'s' * 40}",
        database_url=database_url,
        backend=backend,
        extra=f'{redis}[logging]\nformat = "json"\n',
    )


# --- nodes and the balancer -------------------------------------------------------


@dataclass
class Node:
    name: str
    release: Release
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def launch(release: Release, name: str, config: Path, folder: Path) -> Node:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = folder / f"{name}.log"
    process = start_gunicorn(
        node_env(release.env(config), port, folder, name), log, cwd=release.tree
    )
    node = Node(name, release, url, process, log)
    wait_until_up(process, url + "/health", 200, log, f"node {name}", timeout=60)
    return node


class Balancer:
    """Round robin over the nodes in rotation; a drained node gets no new request."""

    def __init__(self) -> None:
        self.ready = threading.Condition()
        self.nodes: list[Node] = []
        self.in_flight: Counter[str] = Counter()
        self.turn = 0

    def add(self, node: Node) -> None:
        with self.ready:
            self.nodes.append(node)

    @contextmanager
    def pick(self) -> Iterator[Node]:
        with self.ready:
            node = self.nodes[self.turn % len(self.nodes)]
            self.turn += 1
            self.in_flight[node.name] += 1
        try:
            yield node
        finally:
            with self.ready:
                self.in_flight[node.name] -= 1
                self.ready.notify_all()

    def drain(self, node: Node, timeout: float = 30.0) -> None:
        with self.ready:
            self.nodes.remove(node)
            assert self.ready.wait_for(lambda: self.in_flight[node.name] == 0, timeout)


# --- the traffic ------------------------------------------------------------------


@dataclass
class Record:
    phase: str
    kind: str  # sign-in, sso, validate
    release: str  # of the node that answered
    ok: bool
    detail: str = ""
    origin: str = ""  # validate: release that issued the ticket; sso: that opened the session


@dataclass
class Traffic:
    balancer: Balancer
    phase: str = "old"
    stop: threading.Event = field(default_factory=threading.Event)
    records: list[Record] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, record: Record) -> None:
        with self.lock:
            self.records.append(record)

    def hold(self, phase: str) -> None:
        """Stay in ``phase`` PHASE_SECONDS, and until it has MIN_PER_PHASE requests."""
        time.sleep(PHASE_SECONDS)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with self.lock:
                if sum(r.phase == phase for r in self.records) >= MIN_PER_PHASE:
                    return
            time.sleep(0.1)

    def request(
        self, kind: str, session: requests.Session, method: str, path: str, **kw: object
    ) -> tuple[Node, requests.Response | None, str]:
        phase = self.phase
        with self.balancer.pick() as node:
            try:
                response = session.request(
                    method,
                    node.url + path,
                    allow_redirects=False,
                    timeout=REQUEST_TIMEOUT,
                    **kw,  # type: ignore[arg-type]
                )
                return node, response, phase
            except requests.RequestException as exc:
                self.note(Record(phase, kind, node.release.name, False, repr(exc)))
                return node, None, phase

    def ticket(self, kind: str, node: Node, phase: str, response: requests.Response | None,
               origin: str = "") -> str | None:  # fmt: skip
        if response is None:
            return None
        location = response.headers.get("Location", "")
        found = parse_qs(urlsplit(location).query).get("ticket", [""])[0]
        ok = response.status_code == 302 and found.startswith("ST-")
        detail = "" if ok else f"{response.status_code} {response.text[:300]!r}"
        self.note(Record(phase, kind, node.release.name, ok, detail, origin))
        return found if ok else None

    def validate(self, login: str, ticket: str, issuer: str) -> None:
        node, response, phase = self.request(
            "validate",
            new_session(),
            "GET",
            "/p3/serviceValidate",
            params={"service": APP, "ticket": ticket},
        )
        if response is not None:
            ok = response.status_code == 200 and f"<cas:user>{login}</cas:user>" in response.text
            detail = "" if ok else f"{response.status_code} {response.text[:300]!r}"
            self.note(Record(phase, "validate", node.release.name, ok, detail, issuer))

    def sign_in(self, session: requests.Session, login: str) -> str | None:
        """The form from one node, the credentials posted to the next; the session's release."""
        node, page, phase = self.request(
            "sign-in", session, "GET", "/login", params={"service": APP, "renew": "true"}
        )
        if page is None:
            return None
        if page.status_code != 200 or 'name="csrf_token"' not in page.text:
            self.note(
                Record(phase, "sign-in", node.release.name, False, f"form {page.status_code}")
            )
            return None
        self.note(Record(phase, "sign-in", node.release.name, True))
        data = {
            "username": login,
            "password": PASSWORD,
            "csrf_token": csrf(page.text),
            "service": APP,
        }
        node, response, phase = self.request("sign-in", session, "POST", "/login", data=data)
        ticket = self.ticket("sign-in", node, phase, response)
        if ticket is None:
            return None
        self.validate(login, ticket, node.release.name)
        return node.release.name

    def user(self, login: str, seed: int) -> None:
        rng = random.Random(seed)
        session, opened_by = new_session(), None
        while not self.stop.wait(PAUSE):
            if opened_by is None or rng.random() < 0.15:
                session = new_session()
                opened_by = self.sign_in(session, login)
                continue
            node, response, phase = self.request(
                "sso", session, "GET", "/login", params={"service": APP}
            )
            ticket = self.ticket("sso", node, phase, response, opened_by)
            if ticket is None:
                opened_by = None
                continue
            self.validate(login, ticket, node.release.name)


# --- the schema stays usable by the old code --------------------------------------


def schema(url: str) -> dict[str, dict[str, tuple[str, bool, bool]]]:
    """table -> column -> (type, nullable, has a server default)."""
    from sqlalchemy import inspect

    from cas_server.storage.sql.db import make_engine

    engine = make_engine(url)
    try:
        found = inspect(engine)
        return {
            table: {
                c["name"]: (str(c["type"]), bool(c["nullable"]), c.get("default") is not None)
                for c in found.get_columns(table)
            }
            for table in found.get_table_names()
        }
    finally:
        engine.dispose()


def not_expand_only(
    before: dict[str, dict[str, tuple[str, bool, bool]]],
    after: dict[str, dict[str, tuple[str, bool, bool]]],
) -> list[str]:
    problems = []
    for table, columns in before.items():
        if table not in after:
            problems.append(f"table {table} dropped or renamed")
            continue
        for column, shape in columns.items():
            if column not in after[table]:
                problems.append(f"{table}.{column} dropped or renamed")
            elif after[table][column][:2] != shape[:2]:
                problems.append(
                    f"{table}.{column} changed: {shape[:2]} -> {after[table][column][:2]}"
                )
        for column, (_type, nullable, default) in after[table].items():
            if column not in columns and not (nullable or default):
                problems.append(f"{table}.{column} added NOT NULL without a server default")
    return problems


def test_the_schema_check_sees_what_the_old_code_could_not_run_on() -> None:
    before = {"t": {"a": ("VARCHAR(10)", False, False), "b": ("INTEGER", True, False)}}
    fine = {
        "t": {**before["t"], "c": ("INTEGER", True, False), "d": ("INTEGER", False, True)},
        "new": {"x": ("INTEGER", False, False)},
    }
    assert not_expand_only(before, fine) == []
    assert not_expand_only(before, {}) == ["table t dropped or renamed"]
    assert not_expand_only(before, {"t": {"a": before["t"]["a"]}}) == ["t.b dropped or renamed"]
    retyped = {"t": {**before["t"], "a": ("TEXT", False, False)}}
    assert not_expand_only(before, retyped) == [
        "t.a changed: ('VARCHAR(10)', False) -> ('TEXT', False)"
    ]
    required = {"t": {**before["t"], "e": ("INTEGER", False, False)}}
    assert not_expand_only(before, required) == ["t.e added NOT NULL without a server default"]


# --- the test ---------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sql", "redis"])
def test_one_node_then_the_other_is_upgraded_under_traffic_with_no_failed_request(
    postgres_server: PostgresServer,
    previous: Release,
    tmp_path: Path,
    backend: str,
    request: pytest.FixtureRequest,
) -> None:
    """``backend``: where tickets and counters live (the accounts are in PostgreSQL)."""
    redis_url = None
    if backend == "redis":
        redis_url = request.getfixturevalue("redis_server").url
    name = f"rolling_{uuid.uuid4().hex[:8]}"
    postgres_server.execute(f"CREATE DATABASE {name}")
    url = postgres_server.url(name)
    config = write_config(tmp_path, url, redis_url)
    previous.command(config, "db", "init")  # the previous release's schema (0001-0004)
    previous.python(config, SEED, str(config), PASSWORD, *USERS)
    before = schema(url)

    balancer = Balancer()
    traffic = Traffic(balancer)
    nodes = [
        launch(previous, "a-old", config, tmp_path),
        launch(previous, "b-old", config, tmp_path),
    ]
    for node in nodes:
        balancer.add(node)
    users = [
        threading.Thread(target=traffic.user, args=(login, n), daemon=True)
        for n, login in enumerate(USERS)
    ]
    timings: dict[str, float] = {}
    started = time.monotonic()
    try:
        for thread in users:
            thread.start()
        traffic.hold("old")

        traffic.phase = "migrate"
        t0 = time.monotonic()
        out = CURRENT.command(config, "db", "upgrade")
        timings["migrations"] = time.monotonic() - t0
        assert "database schema at revision" in out
        traffic.hold("migrate")  # the old nodes on the new schema

        for n, old in enumerate(list(nodes)):
            traffic.phase = "replace-a" if n == 0 else "replace-b"
            t0 = time.monotonic()
            balancer.drain(old)
            t1 = time.monotonic()
            stop(old.process, timeout=30)  # SIGTERM: gunicorn's graceful stop
            t2 = time.monotonic()
            new = launch(CURRENT, old.name.replace("old", "new"), config, tmp_path)
            balancer.add(new)
            nodes[n] = new
            t3 = time.monotonic()
            timings[f"node {n + 1} drain"] = t1 - t0
            timings[f"node {n + 1} stop"] = t2 - t1
            timings[f"node {n + 1} start"] = t3 - t2
            traffic.phase = "mixed" if n == 0 else "new"
            traffic.hold(traffic.phase)
    finally:
        traffic.stop.set()
        for thread in users:
            thread.join(timeout=60)
        for node in nodes:
            stop(node.process, timeout=30)
    duration = time.monotonic() - started

    records = traffic.records
    failed = [r for r in records if not r.ok]
    by_phase = Counter(r.phase for r in records)
    cross = Counter(
        (r.origin, r.release) for r in records if r.kind in ("validate", "sso") and r.origin
    )
    print(
        f"\nrolling upgrade ({backend}): {len(records)} requests in {duration:.1f} s, "
        f"{len(failed)} failed; "
        f"per phase {dict(by_phase)}; "
        + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
        + f"; (issued/opened by, answered by): {dict(cross)}"
    )
    assert not failed, [f"{r.phase} {r.kind} on {r.release}: {r.detail}" for r in failed[:10]]
    assert not_expand_only(before, schema(url)) == []
    for phase in ("old", "migrate", "mixed", "new"):
        assert by_phase[phase] >= MIN_PER_PHASE, (phase, by_phase)
    # Both ways across releases: a ticket of one validated by the other, and a
    # session opened on one used for SSO on the other.
    assert cross[(PREVIOUS_RELEASE, "current")] > 0 and cross[("current", PREVIOUS_RELEASE)] > 0
    for node in nodes:
        assert "Traceback" not in tail(node.log, 20000), tail(node.log)
