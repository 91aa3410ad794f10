"""The benchmark suite: `make bench` (or `.venv/bin/python benchmarks/run.py`).

Runs every server under gunicorn on 127.0.0.1 with the same settings
(config/gunicorn.conf.py: N workers x 4 threads, SQLite, the same bcrypt
cost), drives it with wrk (another process; every answer is checked by
benchmarks/load.lua) or with benchmarks/signin_load.py, and prints a table;
the figures go to benchmarks/results/<timestamp>.json.

Workloads, for the CAS server and the two peers (django-cas-server 3.1 and
django-mama-cas 2.5, installed into benchmarks/.peers/ on first use):
  - /p3/serviceValidate, one fresh pre-issued ticket per request;
  - single sign-on ticket issue: /login?service=... with a valid session
    cookie (the answer is the 302 to the service with a ticket);
  - password sign-in: GET the form, POST the credentials (CSRF and any login
    ticket included), 302 with a ticket; compared with the raw rate of
    bcrypt.checkpw at the same cost in one process per worker;
and for the CAS server only: a trivial Flask endpoint under the same gunicorn
settings (the ceiling of the stack), validation with 10,000 and 1,000,000
other live tickets in the store (SQLite; PostgreSQL and Redis when their
backends and servers are available), and the RSS of each worker at rest and
after the run. Speed is reported, never asserted.

Every process started here is stopped at the end, on error or Ctrl-C too.
Traffic goes to the loopback address only, for a bounded time.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks import peers as peer_defs  # noqa: E402

GUNICORN_CONF = ROOT / "config" / "gunicorn.conf.py"
SERVICE = "https://bench.example.org/app"
SERVICE_PATTERN = r"^https://bench\.example\.org/.*$"
USERNAME = "bench"
PASSWORD = "Bench-Password-2026!"  # noqa: S105 (a throwaway benchmark account)
THREADS = 4  # gunicorn threads per worker (gthread), for every target
CONNECTIONS = 16  # wrk connections (--connections)
SESSIONS = 8  # signed-in browsers whose cookies the SSO workload rotates through
BIN = Path(sys.executable).parent


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- processes ------------------------------------------------------------------------


class Processes:
    """Every long-running process started here, stopped in reverse order at the end."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.cleanups: list[Callable[[], None]] = []

    def start(self, cmd: list[str], *, cwd: Path, env: dict[str, str], log_path: Path) -> Any:
        with log_path.open("ab") as out:
            proc = subprocess.Popen(
                cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=25)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        # Workers left behind by a killed master go with their process group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs)):
            with contextlib.suppress(Exception):
                self.stop(proc)
        for cleanup in reversed(self.cleanups):
            with contextlib.suppress(Exception):
                cleanup()
        self.cleanups.clear()


PROCS = Processes()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(
    url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}):\n{tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"no answer from {url} within {timeout} s:\n{tail(log_path)}")


def tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return "(no log)"


def gunicorn_env(port: int, workers: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CAS_", "GUNICORN", "DJANGO", "BENCH_"))
    }
    env.update(
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS=str(workers),
        GUNICORN_WORKER_CLASS="gthread",
        GUNICORN_THREADS=str(THREADS),
        # wrk opens its connections at once and keeps them: without a cap the
        # worker that wins the accept race can take them all, and the run
        # measures one worker. Each worker takes its share, on every target.
        GUNICORN_WORKER_CONNECTIONS=str(-(-CONNECTIONS // workers)),
        GUNICORN_ACCESSLOG="/dev/null",
    )
    env.update(extra or {})
    return env


def worker_pids(master: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == master:
            pids.append(int(entry.name))
    return sorted(pids)


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def workers_rss(master: int) -> list[float]:
    return [r for r in (rss_mb(pid) for pid in worker_pids(master)) if r is not None]


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# --- load generators ------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk is missing: installing the Debian package (apt-get install wrk)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=False, env=env, timeout=300)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", "wrk"],
            check=True,
            env=env,
            timeout=600,
        )
        found = shutil.which("wrk")
    if not found:
        raise SystemExit(
            "wrk is needed: apt-get install wrk (Debian) or see https://github.com/wg/wrk"
        )
    return found


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    ok: int
    bad: int
    exhausted: bool
    socket_errors: str

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def wrk(
    base: str,
    lines: list[str],
    work: Path,
    *,
    seconds: float,
    connections: int,
    cycle: bool,
    status: int,
    body: str = "",
    location: str = "",
) -> WrkResult:
    lines_file = work / f"lines-{secrets.token_hex(4)}.txt"
    lines_file.write_text("\n".join(lines) + "\n")
    env = {
        **os.environ,
        "LINES_FILE": str(lines_file),
        "LINES_CYCLE": "1" if cycle else "0",
        "EXPECT_STATUS": str(status),
        "EXPECT_BODY": body,
        "EXPECT_LOCATION": location,
        "WRK_THREADS": "1",
    }
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(HERE / "load.lua"),
        base,
    ]
    out = subprocess.run(
        cmd, env=env, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    lines_file.unlink()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    check = re.search(r"CHECK ok=(\d+) bad=(\d+) exhausted=(\d)", out)
    lat = re.search(r"LATENCY_US p50=(\d+) p90=(\d+) p99=(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if not (rps and total and check and lat):
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return WrkResult(
        rps=float(rps.group(1)),
        p50_ms=int(lat.group(1)) / 1000,
        p90_ms=int(lat.group(2)) / 1000,
        p99_ms=int(lat.group(3)) / 1000,
        requests=int(total.group(1)),
        ok=int(check.group(1)),
        bad=int(check.group(2)),
        exhausted=check.group(3) == "1",
        socket_errors=errors.group(1).strip() if errors else "",
    )


def signin(
    mode: str, base: str, *, seconds: float = 0, concurrency: int = 8, count: int = 0
) -> Any:
    cmd = [
        sys.executable,
        str(HERE / "signin_load.py"),
        mode,
        "--base",
        base,
        "--service",
        SERVICE,
        "--username",
        USERNAME,
        "--seconds",
        str(seconds),
        "--concurrency",
        str(concurrency),
        "--count",
        str(count),
    ]
    env = {**os.environ, "SIGNIN_PASSWORD": PASSWORD}
    out = subprocess.run(
        cmd, env=env, capture_output=True, text=True, check=True, timeout=seconds + 600
    )
    return json.loads(out.stdout)


def bcrypt_rate(cost: int, seconds: float, processes: int) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            str(HERE / "bcrypt_rate.py"),
            "--cost",
            str(cost),
            "--seconds",
            str(seconds),
            "--processes",
            str(processes),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 300,
    )
    return dict(json.loads(out.stdout))


# --- targets --------------------------------------------------------------------------


@dataclass
class Target:
    """A running server and how to pre-issue its tickets."""

    name: str
    base: str
    proc: subprocess.Popen[bytes]
    validate_path: str
    issue: Callable[[int], list[str]]  # n fresh service tickets for SERVICE
    cookie_names: tuple[str, ...]
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Settings:
    seconds: float
    warmup: float
    connections: int
    workers: int
    cost: int
    signin_seconds: float
    rounds: int = 3
    expected_rps: float = 3000.0  # updated from the trivial endpoint: the ceiling

    def tickets_for(self, seconds: float) -> int:
        return int(self.expected_rps * 1.5 * seconds) + 500


def validate_lines(target: Target, tickets: list[str]) -> list[str]:
    service = quote(SERVICE, safe="")
    return [f"{target.validate_path}?service={service}&ticket={t}" for t in tickets]


def sso_cookies(target: Target) -> list[str]:
    """Session cookies of SESSIONS browsers that signed in through the form."""
    log(f"{target.name}: signing in {SESSIONS} browsers for the SSO workload")
    sessions = signin("sessions", target.base, count=SESSIONS)
    if sessions["errors"] or not sessions["cookies"]:
        raise RuntimeError(f"{target.name}: sign-in failed: {sessions['errors'][:3]}")
    return [
        "; ".join(part for part in c.split("; ") if part.split("=", 1)[0] in target.cookie_names)
        for c in sessions["cookies"]
    ]


def validate_run(target: Target, cfg: Settings, work: Path, seconds: float) -> WrkResult:
    fresh = target.issue(cfg.tickets_for(seconds))
    return wrk(target.base, validate_lines(target, fresh), work, seconds=seconds,
               connections=cfg.connections, cycle=False, status=200,
               body="authenticationSuccess")  # fmt: skip


def sso_run(target: Target, cookies: list[str], cfg: Settings, work: Path, seconds: float) -> Any:
    lines = [f"/login?service={quote(SERVICE, safe='')}\t{c}" for c in cookies]
    return wrk(target.base, lines, work, seconds=seconds, connections=cfg.connections,
               cycle=True, status=302, location="ticket=")  # fmt: skip


def ping_run(target: Target, cfg: Settings, work: Path, seconds: float) -> WrkResult:
    return wrk(target.base, ["/ping"], work, seconds=seconds, connections=cfg.connections,
               cycle=True, status=200, body="ok")  # fmt: skip


def best_of(runs: list[WrkResult]) -> dict[str, Any]:
    """The best round (others on the machine only ever slow a round down), with all rounds."""
    best = max(runs, key=lambda r: r.rps)
    out = best.as_dict()
    out["rounds_rps"] = [round(r.rps, 1) for r in runs]
    out["ok"] = sum(r.ok for r in runs)
    out["bad"] = sum(r.bad for r in runs)
    out["exhausted"] = any(r.exhausted for r in runs)
    return out


def interleaved(
    jobs: list[tuple[str, Callable[[float], WrkResult]]], cfg: Settings
) -> dict[str, dict[str, Any]]:
    """Every job once for warm-up, then ``rounds`` rounds of all jobs in turn.

    Interleaving spreads whatever else the machine does over every server
    alike; each figure is the best of its rounds.
    """
    for name, job in jobs:
        log(f"warm-up: {name}")
        job(cfg.warmup)
    runs: dict[str, list[WrkResult]] = {name: [] for name, _ in jobs}
    per_round = cfg.seconds / cfg.rounds
    for number in range(cfg.rounds):
        for name, job in jobs:
            log(f"round {number + 1}/{cfg.rounds}: {name}")
            runs[name].append(job(per_round))
    return {name: best_of(results) for name, results in runs.items()}


# --- the CAS server -------------------------------------------------------------------


class Ours:
    """The CAS server of this repository: accounts on ``db_url``, tickets there or in Redis."""

    def __init__(
        self, work: Path, db_url: str, cost: int, label: str, redis_url: str | None = None
    ) -> None:
        from cas_server.accounts.model import Profile, Status
        from cas_server.auth.hashing import hash_password
        from cas_server.storage.sql.accounts import SqlAccountRepository
        from cas_server.storage.sql.db import make_engine
        from cas_server.storage.sql.migrate import upgrade
        from cas_server.storage.sql.tickets import SqlTicketRegistry

        self.label = label
        self.db_url = db_url
        self.redis_url = redis_url
        self.background = 0  # live tickets added by fill_background
        self.dir = Path(tempfile.mkdtemp(prefix=f"ours-{label}-", dir=work))
        services = self.dir / "services.toml"
        services.write_text(
            '[[services]]\nid = "bench"\nname = "Bench"\n'
            f"url_pattern = '{SERVICE_PATTERN}'\n"
            'release_attributes = ["uid", "mail", "eduPersonAffiliation"]\n'
        )
        tickets = "[tickets]\nservice_ticket_ttl = 3600\n"
        if redis_url:
            tickets += f'backend = "redis"\n[redis]\nurl = "{redis_url}"\nkey_prefix = "cas:"\n'
        self.config = self.dir / "cas.toml"
        mfa_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()  # a Fernet key
        self.config.write_text(
            "[server]\n"
            f'mode = "{"production" if cost >= 10 else "test"}"\n'
            f'secret_key = "{secrets.token_urlsafe(48)}"\n'
            f"[database]\nurl = {db_url!r}\n"
            f"[passwords]\nbcrypt_cost = {cost}\n"
            f"{tickets}"
            '[charters]\npath = ""\n'
            f"[services]\npaths = [{str(services)!r}]\n"
            # One account signs in from every connection at once: each sign-in
            # reserves an attempt before its check (issue #11), so the lockout's
            # budget would refuse the sixth concurrent one. The peers have no
            # such budget; the benchmark measures throughput, not the lockout.
            "[login]\nmax_failures_per_login = 100000\nmax_failures_per_ip = 100000\n"
            # Production mode wants a key for the second factor's sealed secrets.
            f"[mfa]\nencryption_keys = [{mfa_key!r}]\n"
        )
        self.engine = make_engine(db_url)
        upgrade(self.engine)
        self.store = SqlTicketRegistry(self.engine)
        self.redis: Any = None
        if redis_url:
            from cas_server.storage.redis.client import RedisSettings, make_client
            from cas_server.storage.redis.tickets import RedisTicketRegistry

            self.redis = RedisTicketRegistry(make_client(RedisSettings(redis_url)), "cas:")
        accounts = SqlAccountRepository(self.engine)
        account = accounts.find_by_login(USERNAME) or accounts.create(
            USERNAME,
            profile=Profile.STUDENT,
            status=Status.ACTIVE,
            password_hash=hash_password(PASSWORD, cost),
            given_name="Bench",
            family_name="Mark",
            attributes={"mail": [f"{USERNAME}@example.org"]},
        )
        self.account = account

    def start(self, cfg: Settings) -> Target:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = gunicorn_env(
            port,
            cfg.workers,
            {"CAS_SERVER_CONFIG": str(self.config), "CAS_SERVER__PUBLIC_URL": base},
        )
        log_path = self.dir / "gunicorn.log"
        proc = PROCS.start(
            [str(BIN / "gunicorn"), "-c", str(GUNICORN_CONF), "wsgi:app"],
            cwd=ROOT,
            env=env,
            log_path=log_path,
        )
        wait_ready(base + "/login", proc, log_path)
        return Target(
            name=f"cas-server ({self.label})",
            base=base,
            proc=proc,
            validate_path="/p3/serviceValidate",
            issue=self.issue,
            cookie_names=("TGC",),
        )

    def issue(self, count: int) -> list[str]:
        """Fresh service tickets of the bench account, written in bulk by the store's code."""
        from cas_server.protocol.cas.tickets import (
            Authentication,
            Principal,
            ServiceTicket,
            TicketGrantingTicket,
            new_ticket_id,
        )

        now = time.time()
        principal = Principal(self.account.login, self.account.principal_attributes())
        auth = Authentication(principal, now)
        tgt = new_ticket_id("TGT")
        if self.redis is not None:
            # ADD_CHILD stores a ticket only for a live session.
            self.redis.add_ticket_granting_ticket(
                TicketGrantingTicket(tgt, auth, now, now + 7200, 7200, now)
            )
        tickets = [
            ServiceTicket(new_ticket_id("ST"), SERVICE, "bench", tgt, auth, True, now, now + 3600)
            for _ in range(count)
        ]
        self._write(tickets)
        return [t.id for t in tickets]

    def _write(self, tickets: list[Any]) -> None:
        if self.redis is not None:
            redis_bulk_add(self.redis, tickets)
            return
        from sqlalchemy import insert

        from cas_server.storage.codec import dump_authentication
        from cas_server.storage.sql.tickets import T

        auth_json = dump_authentication(tickets[0].authentication) if tickets else ""
        with self.engine.begin() as conn:
            for start in range(0, len(tickets), 5000):
                rows = [
                    self.store._service_ticket_values(t, auth_json)
                    for t in tickets[start : start + 5000]
                ]
                conn.execute(insert(T), rows)

    def fill_background(self, total: int) -> float:
        """Add live service tickets of other users' sessions until there are ``total``."""
        missing = max(0, total - self.background)
        began = time.perf_counter()
        if missing and self.redis is not None:
            redis_fill(self.redis, missing)
        elif missing and self.engine.dialect.name == "sqlite":
            fill_sqlite(self.engine.url.database or "", background_rows(missing))
        elif missing and self.engine.dialect.name == "postgresql":
            fill_postgresql(self.engine, background_rows(missing))
        elif missing:
            raise RuntimeError(f"no bulk loader for {self.engine.dialect.name}")
        self.background += missing
        return time.perf_counter() - began

    def close(self) -> None:
        self.engine.dispose()
        if self.redis is not None:
            self.redis.client.close()


def _bulk(*parts: str) -> bytes:
    """Bulk strings of the Redis protocol."""
    out = []
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def redis_mass_insert(registry: Any, groups: Iterator[tuple[list[str], str, str, float]]) -> None:
    """Service tickets into the Redis registry through its own script, with redis-cli --pipe.

    ``groups`` are (keys, root session digest, JSON as the registry encodes
    it, expiry) for tickets that share a session and a content. Each ticket
    becomes one EVALSHA of the registry's ADD_CHILD script: the same keys,
    indexes and TTLs as ``add_service_ticket``, streamed instead of one round
    trip per ticket.
    """
    from cas_server.storage import redis_scripts, redis_tickets

    sha = registry.client.script_load(redis_scripts.ADD_CHILD)
    where = registry.client.connection_pool.connection_kwargs
    head = b"*10\r\n" + _bulk("EVALSHA", sha, "1")
    now = time.time()
    cli = subprocess.Popen(
        ["redis-cli", "-h", str(where.get("host", "127.0.0.1")), "-p",
         str(where.get("port", 6379)), "--pipe"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert cli.stdin is not None
    try:
        for keys, root, data, expires in groups:
            ttl = str(redis_tickets._ttl(expires - now))
            tail = _bulk(registry.prefix, root, data, ttl, repr(expires), repr(now))
            cli.stdin.write(b"".join(head + _bulk(key) + tail for key in keys))
        cli.stdin.close()
        output = (cli.stdout.read() if cli.stdout else b"").decode(errors="replace")
        cli.wait(timeout=600)
    finally:
        if cli.poll() is None:
            cli.kill()
    if cli.returncode != 0 or "errors: 0" not in output:
        raise RuntimeError(f"redis-cli --pipe: {output[-500:]}")


def redis_bulk_add(registry: Any, tickets: list[Any]) -> None:
    """Fresh tickets (one session, one instant) into Redis: one encoding for all."""
    from cas_server.protocol.cas.tickets import ticket_digest
    from cas_server.storage import redis_tickets

    if not tickets:
        return
    root = redis_tickets._root(tickets[0].tgt_id)
    data = registry._dump_service_ticket(tickets[0], root)
    keys = [registry._key("st", ticket_digest(t.id)) for t in tickets]
    redis_mass_insert(registry, iter([(keys, root, data, tickets[0].expires_at)]))


# The background filler writes the registry's documented layout (redis_scripts.py:
# the ticket's key with its TTL, the expiry index, the session's set of children),
# 20 tickets per call; the tickets the benchmark validates go through the
# registry's own script (redis_bulk_add).
FILL_SCRIPT = """
local p = ARGV[1]
for _, k in ipairs(KEYS) do
  redis.call('SET', k, ARGV[3], 'EX', ARGV[4])
  redis.call('ZADD', p .. 'expiry', ARGV[5], k)
  redis.call('SADD', p .. 'kids:' .. ARGV[2], k)
end
redis.call('EXPIRE', p .. 'kids:' .. ARGV[2], ARGV[4])
return #KEYS
"""


def redis_fill(registry: Any, count: int) -> None:
    """``count`` live service tickets of other users (20 per session) into Redis."""
    from cas_server.protocol.cas.tickets import (
        Authentication,
        Principal,
        ServiceTicket,
        new_ticket_id,
    )
    from cas_server.storage import redis_tickets

    now = time.time()
    sha = registry.client.script_load(FILL_SCRIPT)
    where = registry.client.connection_pool.connection_kwargs
    cli = subprocess.Popen(
        ["redis-cli", "-h", str(where.get("host", "127.0.0.1")), "-p",
         str(where.get("port", 6379)), "--pipe"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert cli.stdin is not None
    try:
        for first in range(0, count, 20):
            login = f"u{first // 20:07d}"
            attributes = {"uid": (login,), "mail": (f"{login}@example.org",)}
            auth = Authentication(Principal(login, attributes), now)
            root = secrets.token_hex(32)
            expires = now + 3600 + first % 600
            ticket = ServiceTicket(
                new_ticket_id("ST"), SERVICE, "bench", root, auth, False, now, expires
            )
            keys = [
                registry._key("st", secrets.token_hex(32)) for _ in range(min(20, count - first))
            ]
            data = registry._dump_service_ticket(ticket, root)
            ttl = str(redis_tickets._ttl(expires - now))
            args = ("EVALSHA", sha, str(len(keys)), *keys, registry.prefix, root, data, ttl,
                    repr(expires))  # fmt: skip
            cli.stdin.write(b"*%d\r\n" % len(args) + _bulk(*args))
        cli.stdin.close()
        output = (cli.stdout.read() if cli.stdout else b"").decode(errors="replace")
        cli.wait(timeout=600)
    finally:
        if cli.poll() is None:
            cli.kill()
    if cli.returncode != 0 or "errors: 0" not in output:
        raise RuntimeError(f"redis-cli --pipe: {output[-500:]}")


BACKGROUND_COLUMNS = (
    "id",
    "kind",
    "tgt_id",
    "principal_id",
    "service",
    "service_id",
    "authentication",
    "proxies",
    "from_new_login",
    "created_at",
    "expires_at",
    "logout_url",
    "consumed",
)


def background_rows(count: int) -> list[tuple[Any, ...]]:
    """Live service tickets of other users: 20 per session, random digests as ids.

    Rows are sorted by id so that a million of them go in quickly; they are
    never validated, only there to make the store big.
    """
    from cas_server.protocol.cas.tickets import Authentication, Principal
    from cas_server.storage.codec import dump_authentication

    now = time.time()
    ids = sorted(secrets.token_hex(32) for _ in range(count))
    sessions = sorted(secrets.token_hex(32) for _ in range(count // 20 + 1))
    rows: list[tuple[Any, ...]] = []
    auth = ""
    for i, digest in enumerate(ids):
        login = f"u{i // 20:07d}"
        if i % 20 == 0:
            attributes = {"uid": (login,), "mail": (f"{login}@example.org",)}
            auth = dump_authentication(Authentication(Principal(login, attributes), now))
        expires = now + 3600 + 600 * i / count  # increasing: every index is appended to
        rows.append(
            (digest, "ST", sessions[i // 20], login, SERVICE, "bench", auth, None, False, now,
             expires, None, False)
        )  # fmt: skip
    return rows


def fill_sqlite(path: str, rows: list[tuple[Any, ...]]) -> None:
    import sqlite3

    db = sqlite3.connect(path, timeout=60)
    try:
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA cache_size=-400000")
        columns, marks = ",".join(BACKGROUND_COLUMNS), ",".join("?" * len(BACKGROUND_COLUMNS))
        sql = f"INSERT INTO tickets ({columns}) VALUES ({marks})"  # noqa: S608 (constants)
        with db:
            for start in range(0, len(rows), 100000):
                db.executemany(sql, rows[start : start + 100000])
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()


def fill_postgresql(engine: Any, rows: list[tuple[Any, ...]]) -> None:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY tickets ({','.join(BACKGROUND_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        raw.commit()
        cursor.execute("ANALYZE tickets")
        raw.commit()
    finally:
        raw.close()


# --- PostgreSQL, when its driver and server are on the machine ------------------------


def postgresql_available() -> str | None:
    """None when usable, else why not."""
    if importlib.util.find_spec("psycopg") is None:
        return "psycopg is not installed in this virtualenv (the PostgreSQL backend's driver)"
    if not sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        return "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb)"
    return None


@contextlib.contextmanager
def postgresql_cluster(work: Path, databases: int = 1) -> Iterator[list[str]]:
    """A throwaway cluster on a free port (fsync off); yields the URLs of its databases."""
    pgbin = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    data = Path(tempfile.mkdtemp(prefix="cas-bench-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    logfile = data / "pg.log"

    def pg(*cmd: str) -> None:
        subprocess.run([*run_as, *cmd], check=True, capture_output=True, timeout=120)

    def stop() -> None:
        subprocess.run(
            [
                *run_as,
                str(pgbin / "pg_ctl"),
                "-D",
                str(data / "data"),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(data, ignore_errors=True)

    PROCS.cleanups.append(stop)
    try:
        pg(str(pgbin / "initdb"), "-D", str(data / "data"), "-U", "postgres", "-A", "trust",
           "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")  # fmt: skip
        options = (
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        pg(str(pgbin / "pg_ctl"), "-D", str(data / "data"), "-l", str(logfile), "-w", "-o",
           options, "start")  # fmt: skip
        names = [f"cas{i}" for i in range(databases)]
        statements = ["create role cas login password 'caspw'"]
        statements += [f"create database {name} owner cas" for name in names]
        subprocess.run(
            [str(pgbin / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-q",
             *[arg for sql in statements for arg in ("-c", sql)]],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        yield [f"postgresql+psycopg://cas:caspw@127.0.0.1:{port}/{name}" for name in names]
    finally:
        stop()
        PROCS.cleanups.remove(stop)


def redis_backend_available() -> str | None:
    """None when usable, else why not."""
    if not (ROOT / "cas_server" / "storage" / "redis" / "tickets.py").exists():
        return "no Redis ticket registry in this tree (cas_server/storage/redis/tickets.py)"
    if importlib.util.find_spec("redis") is None:
        return "the redis client package is not installed in this virtualenv"
    if not shutil.which("redis-server"):
        return "redis-server is not installed (apt-get install redis-server)"
    return None


@contextlib.contextmanager
def redis_server(work: Path) -> Iterator[str]:
    """A throwaway redis-server on a free port (no persistence); yields its URL."""
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="redis-", dir=work))
    log_path = folder / "redis.log"
    proc = PROCS.start(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(folder)],
        cwd=folder, env=dict(os.environ), log_path=log_path,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start:\n{tail(log_path)}")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        PROCS.stop(proc)


# --- store size -----------------------------------------------------------------------


def store_size_runs(
    stores: list[tuple[int, Ours]], cfg: Settings, work: Path
) -> list[dict[str, Any]]:
    """Validation on stores of different sizes, all serving at once, in interleaved rounds."""
    fills = {}
    for size, ours in stores:
        log(f"{ours.label}: filling a store to {size:,} live tickets")
        fills[size] = ours.fill_background(size)
    targets = [(size, ours.start(cfg)) for size, ours in stores]
    try:
        jobs = [
            (f"{target.name}, {size:,} live tickets",
             lambda seconds, t=target: validate_run(t, cfg, work, seconds))
            for size, target in targets
        ]  # fmt: skip
        results = interleaved(jobs, cfg)
    finally:
        for _, target in targets:
            PROCS.stop(target.proc)
    return [
        {"store": stores[0][1].label, "live_tickets": size, "fill_seconds": fills[size],
         "validate": results[name]}
        for (size, _), (name, _) in zip(targets, jobs, strict=True)
    ]  # fmt: skip


# --- peers ----------------------------------------------------------------------------


def start_peer(peer: peer_defs.Peer, cfg: Settings, work: Path) -> Target:
    install_log = peer.root.parent / f"{peer.name}-install.log"
    peer.root.parent.mkdir(parents=True, exist_ok=True)
    log(f"{peer.label}: virtualenv {peer.root / 'venv'} ({' '.join(peer.requirements)})")
    peer_defs.ensure_venv(peer, install_log)
    peer_defs.write_project(peer, SERVICE_PATTERN)
    db = work / f"{peer.name}.sqlite3"
    env_extra = {
        "DJANGO_SETTINGS_MODULE": "benchproj.settings",
        "BENCH_SECRET_KEY": secrets.token_urlsafe(48),
        "BENCH_DATABASE": str(db),
        "BENCH_BCRYPT_COST": str(cfg.cost),
        "BENCH_SERVICE": SERVICE,
        "BENCH_USERNAME": USERNAME,
        "BENCH_PASSWORD": PASSWORD,
    }
    env = {**os.environ, **env_extra}

    def manage(*args: str) -> str:
        return subprocess.run(
            [str(peer.python), *args], cwd=peer.project, env=env, capture_output=True,
            text=True, check=True, timeout=600,
        ).stdout  # fmt: skip

    log(f"{peer.label}: migrate, account, service")
    manage("-m", "django", "migrate", "-v", "0", "--noinput")
    manage("bench_setup.py")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = work / f"{peer.name}-gunicorn.log"
    proc = PROCS.start(
        [str(peer.gunicorn), "-c", str(GUNICORN_CONF), "benchproj.wsgi:application"],
        cwd=peer.project,
        env=gunicorn_env(port, cfg.workers, env_extra),
        log_path=log_path,
    )
    wait_ready(base + "/login", proc, log_path)

    def issue(count: int) -> list[str]:
        out_file = work / f"{peer.name}-tickets.txt"
        manage("bench_fill.py", str(count), str(out_file))
        tickets = out_file.read_text().split()
        out_file.unlink()
        return tickets

    return Target(
        name=peer.label,
        base=base,
        proc=proc,
        validate_path=peer.validate_path,
        issue=issue,
        cookie_names=(peer.sso_cookie,),
    )


# --- report ---------------------------------------------------------------------------


def fmt_rate(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def report(results: dict[str, Any]) -> str:
    lines: list[str] = []
    meta = results["meta"]
    lines.append(
        f"CAS benchmark {meta['started']}: {meta['workers']} gunicorn workers x {THREADS} threads "
        f"(gthread), SQLite (WAL), bcrypt cost {meta['bcrypt_cost']}, wrk 1 thread x "
        f"{meta['connections']} connections, {meta['seconds']:g} s per workload "
        f"(best of {meta.get('rounds', 1)} interleaved rounds), {meta['cpus']} CPUs"
    )
    after = meta.get("load_after", "?")
    lines.append(f"load average (1/5/15 min) before: {meta['load_before']}, after: {after}")
    lines.append("")
    header = (
        f"{'workload':38s} {'server':28s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s}  "
        "checked answers"
    )
    lines.append(header)
    lines.append("-" * len(header))
    trivial = results.get("trivial")
    if trivial:
        lines.append(
            f"{'trivial Flask endpoint (ceiling)':38s} {'gunicorn + Flask':28s} "
            f"{trivial['rps']:9,.1f} {trivial['p50_ms']:8.2f} {trivial['p99_ms']:8.2f}  "
            f"{trivial['ok']} ok, {trivial['bad']} bad"
        )
    names = [results["ours"]["name"]] + [
        p["name"] for p in results.get("peers", []) if "error" not in p
    ]
    servers = [results["ours"]] + [p for p in results.get("peers", []) if "error" not in p]
    for key, title in (
        ("validate", "p3/serviceValidate, fresh ticket"),
        ("sso", "SSO ticket issue (302)"),
    ):
        for i, server in enumerate(servers):
            r = server.get(key)
            if not r:
                continue
            flag = " TICKETS RAN OUT" if r.get("exhausted") else ""
            lines.append(
                f"{title if i == 0 else '':38s} {names[i]:28s} {r['rps']:9,.1f} {r['p50_ms']:8.2f} "
                f"{r['p99_ms']:8.2f}  {r['ok']} ok, {r['bad']} bad{flag}"
            )
    for i, server in enumerate(servers):
        r = server.get("signin")
        if r:
            lines.append(
                f"{'password sign-in (GET form + POST)' if i == 0 else '':38s} {names[i]:28s} "
                f"{fmt_rate(r['sign_ins_per_second'], 2):>9s} {'':8s} {'':8s}  "
                f"{r['sign_ins']} ok, {r['errors']} failed"
                + ("" if r.get("steady_window", True) else " (no steady window: whole run)")
            )
    bc = results.get("bcrypt")
    if bc:
        lines.append(
            f"{'bcrypt.checkpw, ' + str(bc['processes']) + ' processes':38s} {'(the limit)':28s} "
            f"{bc['checks_per_second']:9,.2f}"
        )
    for run in results.get("store_size", []):
        r = run["validate"]
        lines.append(
            f"{'validate, ' + format(run['live_tickets'], ',') + ' live tickets':38s} "
            f"{'cas-server (' + run['store'] + ')':28s} {r['rps']:9,.1f} {r['p50_ms']:8.2f} "
            f"{r['p99_ms']:8.2f}  {r['ok']} ok, {r['bad']} bad (fill {run['fill_seconds']:.0f} s)"
        )
    for note in results.get("skipped", []):
        lines.append(f"skipped: {note}")
    for peer in results.get("peers", []):
        if "error" in peer:
            lines.append(f"peer {peer['name']} failed: {peer['error']}")
    lines.append("")
    lines.append("RSS per worker (MB), at rest -> after the run:")
    for name, server in zip(names, servers, strict=True):
        rest = ", ".join(f"{x:.0f}" for x in server.get("rss_mb_at_rest", []))
        after = ", ".join(f"{x:.0f}" for x in server.get("rss_mb_after", []))
        lines.append(f"  {name:28s} {rest} -> {after}")
    if trivial:
        lines.append(
            f"  {'trivial Flask endpoint':28s} "
            f"{', '.join(f'{x:.0f}' for x in trivial.get('rss_mb_at_rest', []))} -> "
            f"{', '.join(f'{x:.0f}' for x in trivial.get('rss_mb_after', []))}"
        )
    lines.append("")
    lines.append("Figures against the targets:")
    for item in results.get("targets", []):
        lines.append(f"  [{'met' if item['met'] else 'NOT MET'}] {item['text']}")
    return "\n".join(lines)


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    ours = results["ours"]
    trivial = results.get("trivial")
    peers = [p for p in results.get("peers", []) if "error" not in p]

    def add(text: str, value: float, goal: float, higher: bool = True) -> None:
        items.append({"text": text, "value": value, "goal": goal,
                      "met": value >= goal if higher else value <= goal})  # fmt: skip

    for key, label in (("validate", "serviceValidate"), ("sso", "SSO ticket issue")):
        if key not in ours:
            continue
        mine = ours[key]["rps"]
        if trivial:
            ratio = mine / trivial["rps"]
            add(f"{label}: {ratio:.1%} of the trivial endpoint (goal >= 50%)", ratio, 0.5)
        if peers:
            best = max(peers, key=lambda p: p[key]["rps"])
            ratio = mine / best[key]["rps"]
            add(f"{label}: {ratio:.1f}x the best peer, {best['name']} (goal >= 3x)", ratio, 3.0)
    if ours.get("signin", {}).get("sign_ins_per_second") and results.get("bcrypt"):
        ratio = ours["signin"]["sign_ins_per_second"] / results["bcrypt"]["checks_per_second"]
        add(f"password sign-in: {ratio:.1%} of the bcrypt limit (goal >= 90%)", ratio, 0.9)
    by_store: dict[str, list[dict[str, Any]]] = {}
    for run in results.get("store_size", []):
        by_store.setdefault(run["store"], []).append(run)
    for store, runs in by_store.items():
        if len(runs) >= 2:
            small, big = runs[0], runs[-1]
            growth = big["validate"]["p50_ms"] / max(small["validate"]["p50_ms"], 1e-9)
            add(
                f"{store}: p50 latency x{growth:.2f} from {small['live_tickets']:,} to "
                f"{big['live_tickets']:,} live tickets (goal: flat, <= x1.25); "
                f"throughput {small['validate']['rps']:,.0f} -> "
                f"{big['validate']['rps']:,.0f} req/s",
                growth,
                1.25,
                higher=False,
            )
    return items


# --- main -----------------------------------------------------------------------------


def main() -> int:
    global THREADS, CONNECTIONS
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="per workload (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up before each wrk run")
    parser.add_argument(
        "--signin-seconds", type=float, help="sign-in run (default: --seconds, at least 15)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds per workload (best kept)"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, every target")
    parser.add_argument(
        "--threads", type=int, default=THREADS, help="gunicorn threads per worker, every target"
    )
    parser.add_argument("--connections", type=int, default=CONNECTIONS, help="wrk connections")
    parser.add_argument("--bcrypt-cost", type=int, default=12, help="every target (default: ours)")
    parser.add_argument("--big", type=int, default=1_000_000, help="large store size")
    parser.add_argument("--small", type=int, default=10_000, help="small store size")
    parser.add_argument(
        "--no-peers", action="store_true", help="skip django-cas-server and mama-cas"
    )
    parser.add_argument("--no-store-size", action="store_true", help="skip the 10k/1M runs")
    parser.add_argument("--quick", action="store_true", help="3 s per workload, 100k big store")
    parser.add_argument("--output", type=Path, default=HERE / "results")
    args = parser.parse_args()
    THREADS, CONNECTIONS = args.threads, args.connections
    if args.quick:
        args.seconds, args.warmup, args.big = 3.0, 1.0, min(args.big, 100_000)

    def interrupted(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    ensure_wrk()
    signin_seconds = args.signin_seconds or max(15.0, args.seconds)
    cfg = Settings(
        args.seconds, args.warmup, args.connections, args.workers, args.bcrypt_cost, signin_seconds,
        max(1, args.rounds),
    )  # fmt: skip
    started = dt.datetime.now()
    results: dict[str, Any] = {
        "meta": {
            "started": started.isoformat(timespec="seconds"),
            "host": platform.node(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_before": load_average(),
            "workers": args.workers,
            "threads": THREADS,
            "connections": args.connections,
            "seconds": args.seconds,
            "rounds": cfg.rounds,
            "bcrypt_cost": args.bcrypt_cost,
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        },
        "skipped": [],
    }
    work = Path(tempfile.mkdtemp(prefix="cas-bench-"))
    clock = time.monotonic()
    try:
        # 1. Every server at once, on its own port: the trivial endpoint (the
        # ceiling of the stack), the CAS server on SQLite, the two peers.
        port = free_port()
        log_path = work / "trivial.log"
        proc = PROCS.start(
            [str(BIN / "gunicorn"), "-c", str(GUNICORN_CONF), "trivial_app:app"],
            cwd=HERE,
            env=gunicorn_env(port, args.workers),
            log_path=log_path,
        )
        trivial = Target("trivial Flask endpoint", f"http://127.0.0.1:{port}", proc, "", list, ())
        wait_ready(trivial.base + "/ping", proc, log_path)
        trivial.info["rss_mb_at_rest"] = workers_rss(proc.pid)

        ours = Ours(work, f"sqlite:///{work / 'cas.sqlite3'}", args.bcrypt_cost, "SQLite")
        servers = [ours.start(cfg)]
        servers[0].name = "cas-server"
        results["peers"] = []
        if args.no_peers:
            results["skipped"].append("peers (--no-peers)")
        for peer in () if args.no_peers else peer_defs.PEERS:
            try:
                servers.append(start_peer(peer, cfg, work))
            except (subprocess.SubprocessError, RuntimeError, OSError) as exc:
                detail = getattr(exc, "stderr", "") or ""
                log(f"{peer.label} failed: {exc} {str(detail)[-2000:]}")
                results["peers"].append({"name": peer.label, "error": f"{exc} {detail!s:.500}"})
        cookies = {}
        for server in servers:
            server.info["rss_mb_at_rest"] = workers_rss(server.proc.pid)
            cookies[server.name] = sso_cookies(server)

        # 2. Validation and single sign-on, interleaved rounds, best of each.
        ping = ping_run(trivial, cfg, work, min(3.0, cfg.seconds))  # sizes the ticket batches
        cfg.expected_rps = max(1000.0, ping.rps)
        jobs: list[tuple[str, Callable[[float], WrkResult]]] = [
            ("trivial", lambda seconds: ping_run(trivial, cfg, work, seconds))
        ]
        for server in servers:
            jobs.append(
                (
                    f"{server.name} validate",
                    lambda seconds, t=server: validate_run(t, cfg, work, seconds),
                )
            )
            jobs.append(
                (
                    f"{server.name} sso",
                    lambda seconds, t=server: sso_run(t, cookies[t.name], cfg, work, seconds),
                )
            )
        best = interleaved(jobs, cfg)
        results["trivial"] = {**best["trivial"], **trivial.info}
        trivial.info["rss_mb_after"] = workers_rss(proc.pid)
        results["trivial"]["rss_mb_after"] = trivial.info["rss_mb_after"]
        PROCS.stop(proc)

        # 3. Password sign-in, one server at a time (each fills both cores with bcrypt).
        for server in servers:
            log(f"{server.name}: password sign-in")
            # Two browsers per worker keep every core in bcrypt; more would only queue.
            server.info["signin"] = signin(
                "run", server.base, seconds=cfg.signin_seconds, concurrency=2 * cfg.workers
            )
            server.info["rss_mb_after"] = workers_rss(server.proc.pid)
        for server in servers:
            entry = {
                "name": server.name,
                "validate": best[f"{server.name} validate"],
                "sso": best[f"{server.name} sso"],
                **server.info,
            }
            if server is servers[0]:
                results["ours"] = entry
            else:
                results["peers"].append(entry)
            PROCS.stop(server.proc)
        ours.close()

        # 4. The bcrypt limit, with no server running.
        log(f"bcrypt.checkpw at cost {args.bcrypt_cost}, {args.workers} processes")
        results["bcrypt"] = bcrypt_rate(args.bcrypt_cost, signin_seconds, args.workers)

        # 5. Validation against the size of the store: both sizes serve at once.
        results["store_size"] = []
        if args.no_store_size:
            results["skipped"].append("store size runs (--no-store-size)")
        else:
            cost, sizes = args.bcrypt_cost, (args.small, args.big)
            stores = [
                (size, Ours(work, f"sqlite:///{work / f'size-{size}.sqlite3'}", cost, "SQLite"))
                for size in sizes
            ]
            results["store_size"] += store_size_runs(stores, cfg, work)
            for _, store in stores:
                store.close()
            why = postgresql_available()
            if why:
                results["skipped"].append(f"PostgreSQL store: {why}")
            else:
                with postgresql_cluster(work, len(sizes)) as urls:
                    stores = [
                        (size, Ours(work, url, cost, "PostgreSQL"))
                        for size, url in zip(sizes, urls, strict=True)
                    ]
                    results["store_size"] += store_size_runs(stores, cfg, work)
                    for _, store in stores:
                        store.close()
            why = redis_backend_available()
            if why:
                results["skipped"].append(f"Redis store: {why}")
            else:
                with contextlib.ExitStack() as stack:
                    stores = []
                    for size in sizes:
                        url = stack.enter_context(redis_server(work))
                        accounts = f"sqlite:///{work / f'redis-{size}.sqlite3'}"
                        stores.append((size, Ours(work, accounts, cost, "Redis", redis_url=url)))
                    results["store_size"] += store_size_runs(stores, cfg, work)
                    for _, store in stores:
                        store.close()
    except KeyboardInterrupt:
        log("interrupted: stopping every process")
        raise
    finally:
        PROCS.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    results["meta"]["load_after"] = load_average()
    results["meta"]["duration_seconds"] = round(time.monotonic() - clock, 1)
    results["targets"] = evaluate(results)
    args.output.mkdir(parents=True, exist_ok=True)
    out = args.output / f"{started.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))
    shown = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(f"\n{results['meta']['duration_seconds']:.0f} s; figures in {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
