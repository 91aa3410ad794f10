"""Replicated servers for the failover tests: Redis under Sentinel, PostgreSQL with a standby.

Both are plain context managers (no pytest fixture needed), each on free
ports of 127.0.0.1 in a throwaway folder, always stopped on exit:

- :func:`redis_sentinel_group`: a master, ``replicas`` replicas
  (``--replicaof``) and three sentinels (Debian ``redis-sentinel``) watching
  it under the name ``casmaster``; returns once every sentinel sees the others
  and every replica. ``group.kill_master()`` SIGKILLs the master;
  ``group.wait_new_master(old)`` waits for the sentinels' promotion.
- :func:`postgres_standby_pair`: a primary (``initdb``) and a streaming standby
  made with ``pg_basebackup -R``. ``pair.primary.url(db)``,
  ``pair.standby.url(db)``, ``pair.multi_host_url(db)`` (libpq ``host=a,b`` with
  ``target_session_attrs=read-write``); ``pair.stop_primary()``,
  ``pair.promote()``. With ``synchronous=True`` a commit returns once the
  standby has it (``synchronous_standby_names``), as a deployment that must not
  lose an acknowledged write runs it.

A missing binary skips (or fails under CI) through
:func:`tests.support.servers.missing`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.ports import free_port, wait_port
from tests.support.servers import PGBIN, missing

SERVICE = "casmaster"
START_TIMEOUT = 30.0


# --- Redis: master, replicas, three sentinels ---------------------------------------


@dataclass
class RedisProcess:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class RedisSentinelGroup:
    folder: Path
    master: RedisProcess
    replicas: list[RedisProcess]
    sentinels: list[RedisProcess]
    service: str = SERVICE
    killed: list[RedisProcess] = field(default_factory=list)

    @property
    def sentinel_addresses(self) -> list[str]:
        return [f"127.0.0.1:{s.port}" for s in self.sentinels]

    def client(self, port: int) -> object:
        import redis

        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, decode_responses=True)

    def master_port(self) -> int | None:
        """The master's port as the sentinels currently say (None if none answers)."""
        import redis

        for sentinel in self.sentinels:
            try:
                address = redis.Redis(
                    host="127.0.0.1", port=sentinel.port, socket_timeout=1
                ).sentinel_get_master_addr_by_name(self.service)
            except redis.RedisError:
                continue
            if address:
                return int(address[1])
        return None

    def kill_master(self) -> RedisProcess:
        """SIGKILL the current master (as a crashed host); returns it."""
        port = self.master_port()
        victim = next(p for p in [self.master, *self.replicas] if p.port == port)
        victim.kill()
        self.killed.append(victim)
        return victim

    def wait_new_master(self, old_port: int, timeout: float = 30.0) -> int:
        """Until the sentinels name another master and it answers as one."""
        import redis

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            port = self.master_port()
            if port is not None and port != old_port:
                try:
                    role = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).role()
                    if role[0] in (b"master", "master"):
                        return port
                except redis.RedisError:
                    pass
            time.sleep(0.05)
        raise AssertionError(f"no new master within {timeout} s")


def _redis_binary(name: str) -> str:
    binary = shutil.which(name)
    if binary is None:
        missing(f"{name} is not installed (apt-get install redis-server redis-sentinel)")
    return binary


def _start_redis(folder: Path, name: str, args: list[str], port: int) -> RedisProcess:
    log = folder / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=folder
        )
    started = RedisProcess(port, process, log)
    if not wait_port(port, START_TIMEOUT):
        started.kill()
        raise AssertionError(f"{name} did not start: {log.read_text(errors='replace')[-2000:]}")
    return started


def _data_node(binary: str, folder: Path, name: str, master: int | None) -> RedisProcess:
    port = free_port()
    work = folder / name
    work.mkdir()
    args = [
        binary,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(work),
        "--daemonize", "no",
    ]  # fmt: skip
    if master is not None:
        args += ["--replicaof", "127.0.0.1", str(master)]
    return _start_redis(folder, name, args, port)


def _sentinel(binary: str, folder: Path, n: int, master: int, down_after_ms: int) -> RedisProcess:
    port = free_port()
    work = folder / f"sentinel-{n}"
    work.mkdir()
    config = work / "sentinel.conf"  # the sentinel rewrites it: its own copy
    config.write_text(
        f"port {port}\n"
        "bind 127.0.0.1\n"
        f"dir {work}\n"
        f"sentinel monitor {SERVICE} 127.0.0.1 {master} 2\n"
        f"sentinel down-after-milliseconds {SERVICE} {down_after_ms}\n"
        f"sentinel failover-timeout {SERVICE} 10000\n"
        f"sentinel parallel-syncs {SERVICE} 1\n",
        encoding="utf-8",
    )
    return _start_redis(folder, f"sentinel-{n}", [binary, str(config)], port)


def _wait_group(group: RedisSentinelGroup, timeout: float = START_TIMEOUT) -> None:
    """Until each sentinel knows the two others and every replica, and replicas are in sync."""
    import redis

    want = len(group.replicas)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = True
        for sentinel in group.sentinels:
            client = redis.Redis(host="127.0.0.1", port=sentinel.port, socket_timeout=1)
            try:
                peers = client.sentinel_sentinels(group.service)
                replicas = client.sentinel_slaves(group.service)
            except redis.RedisError:
                ready = False
                break
            up = [r for r in replicas if not r["is_sdown"] and r.get("master-link-status") == "ok"]
            if len(peers) < len(group.sentinels) - 1 or len(up) < want:
                ready = False
                break
        if ready:
            return
        time.sleep(0.1)
    raise AssertionError(f"the sentinels did not see the whole group within {timeout} s")


@contextmanager
def redis_sentinel_group(
    replicas: int = 1, down_after_ms: int = 1000
) -> Iterator[RedisSentinelGroup]:
    """A master, ``replicas`` replicas and three sentinels, ready for a failover."""
    server = _redis_binary("redis-server")
    sentinel = shutil.which("redis-sentinel")
    if sentinel is None:
        missing("redis-sentinel is not installed (apt-get install redis-sentinel)")
    folder = Path(tempfile.mkdtemp(prefix="cas-sentinel-"))
    started: list[RedisProcess] = []
    try:
        master = _data_node(server, folder, "master", None)
        started.append(master)
        copies = []
        for n in range(replicas):
            copies.append(_data_node(server, folder, f"replica-{n}", master.port))
            started.append(copies[-1])
        watchers = []
        for n in range(3):
            watchers.append(_sentinel(sentinel, folder, n, master.port, down_after_ms))
            started.append(watchers[-1])
        group = RedisSentinelGroup(folder, master, copies, watchers)
        _wait_group(group)
        yield group
    finally:
        for process in reversed(started):
            process.kill()
        shutil.rmtree(folder, ignore_errors=True)


# --- PostgreSQL: primary and streaming standby --------------------------------------


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@dataclass
class PgInstance:
    name: str
    port: int
    data: Path
    folder: Path

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database} connect_timeout=5"

    def execute(self, *statements: str, database: str = "postgres") -> list[tuple[object, ...]]:
        """Run statements in autocommit; the rows of the last one."""
        import psycopg

        rows: list[tuple[object, ...]] = []
        with psycopg.connect(self.dsn(database), autocommit=True) as conn:
            for statement in statements:
                cursor = conn.execute(statement)  # type: ignore[arg-type]
                rows = list(cursor.fetchall()) if cursor.description else []
        return rows

    def ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_as_postgres(), str(PGBIN / "pg_ctl"), "-D", str(self.data), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, options: str) -> None:
        log = self.folder / f"{self.name}.log"
        done = self.ctl("-l", str(log), "-w", "-t", "30", "-o", options, "start")
        if done.returncode != 0:
            text = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise AssertionError(f"PostgreSQL {self.name} did not start: {done.stderr}\n{text}")

    def stop(self, mode: str = "fast") -> None:
        self.ctl("-m", mode, "-w", "stop")

    def in_recovery(self) -> bool:
        return bool(self.execute("SELECT pg_is_in_recovery()")[0][0])


@dataclass
class PostgresPair:
    primary: PgInstance
    standby: PgInstance

    def multi_host_url(self, database: str) -> str:
        """Both servers, libpq picks the one that accepts writes."""
        return (
            f"postgresql+psycopg://postgres@/{database}?host=127.0.0.1:{self.primary.port},"
            f"127.0.0.1:{self.standby.port}&target_session_attrs=read-write&connect_timeout=2"
        )

    def wait_replayed(self, timeout: float = 20.0) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        lsn = self.primary.execute("SELECT pg_current_wal_lsn()")[0][0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            query = f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn"
            if self.standby.execute(query)[0][0]:
                return
            time.sleep(0.05)
        raise AssertionError("the standby did not catch up")

    def stop_primary(self, mode: str = "immediate") -> None:
        """``immediate`` is a crash (no shutdown checkpoint); ``fast`` a clean stop."""
        self.primary.stop(mode)

    def promote(self) -> None:
        done = self.standby.ctl("-w", "-t", "30", "promote")
        if done.returncode != 0:
            raise AssertionError(f"promotion failed: {done.stderr}")


_BASE_OPTIONS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200 "
    "-c wal_level=replica -c max_wal_senders=5 -c hot_standby=on"
)


@contextmanager
def postgres_standby_pair(synchronous: bool = True) -> Iterator[PostgresPair]:
    """A primary and its streaming standby (``pg_basebackup -R``), both answering."""
    if not (PGBIN / "initdb").exists():
        missing(f"PostgreSQL 15 is not installed ({PGBIN}/initdb missing)")
    folder = Path(tempfile.mkdtemp(prefix="cas-pgha-"))  # the postgres user must reach it
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    primary = PgInstance("primary", free_port(), folder / "primary", folder)
    standby = PgInstance("standby", free_port(), folder / "standby", folder)
    as_pg = _as_postgres()
    try:
        subprocess.run(
            [
                *as_pg, str(PGBIN / "initdb"), "-D", str(primary.data), "-U", "postgres",
                "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
            ],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        sync = (
            "-c synchronous_standby_names=standby -c synchronous_commit=on" if synchronous else ""
        )
        primary.start(f"-p {primary.port} -k {folder} {_BASE_OPTIONS} {sync}")
        subprocess.run(
            [
                *as_pg, str(PGBIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
                "-U", "postgres", "-D", str(standby.data), "-R", "-X", "stream", "-c", "fast",
                "-d", "application_name=standby",
            ],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        standby.start(f"-p {standby.port} -k {folder} {_BASE_OPTIONS}")
        pair = PostgresPair(primary, standby)
        deadline = time.monotonic() + START_TIMEOUT
        while not primary.execute(
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
        )[0][0]:
            if time.monotonic() > deadline:
                raise AssertionError("the standby does not stream")
            time.sleep(0.05)
        yield pair
    finally:
        for instance in (standby, primary):
            if instance.data.exists():
                instance.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)
