"""The "My sign-ins" history query (#15) on a large audit trail: a benchmark, never a test.

    .venv/bin/python benchmarks/audit_history.py                  # 10 million rows
    .venv/bin/python benchmarks/audit_history.py --rows 1000000 --no-postgresql

Fills ``audit_events`` of a migrated database with ``--rows`` events (SQLite
file; and a throwaway PostgreSQL cluster when its binaries and driver are
here, started as ``benchmarks/run.py`` does) spread over ``--days`` days and
``--accounts`` accounts, a few of them heavy users, and a mix of actions of
which some are not in the history. Then times
``storage.sql.audit_queries.history_for`` for one account (the first page,
and the fifth) over ``--calls`` calls and prints p50/p95 in milliseconds as
JSON lines. Speed is reported, never asserted.

The rows go in with the audit indexes dropped, which are then rebuilt under
their own names (far quicker than keeping six indexes up to date row by row);
the schema is the migrations' own, checked by the query plans printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cas_server.storage.sql.audit_queries import history_for  # noqa: E402
from cas_server.storage.sql.db import make_engine  # noqa: E402
from cas_server.storage.sql.migrate import upgrade  # noqa: E402

# Actions as a busy trail has them: mostly sign-ins, then self-service and
# console reads (the latter not in the history).
ACTIONS = (
    ("login", 60),
    ("sesame_password_reset", 3),
    ("sesame_password_request", 3),
    ("profile_password", 2),
    ("mfa_verify", 8),
    ("profile_mfa_enrol", 1),
    ("admin_view", 10),
    ("logout", 8),
    ("profile_email", 2),
    ("login_lock", 1),
    ("admin_end_sessions", 1),
    ("data_export", 1),
)
OUTCOMES = ("success", "success", "success", "failure", "invalid_credentials")
INDEXES = (
    ("ix_audit_events_at", "at"),
    ("ix_audit_events_action", "action"),
    ("ix_audit_events_account_uuid", "account_uuid"),
    ("ix_audit_events_login", "login"),
    ("ix_audit_events_account_at", "account_uuid, at"),
    ("ix_audit_events_login_at", "login, at"),
)
HEAVY = 20  # accounts with a hundred times the events of the others


def account(n: int) -> tuple[str, str]:
    return f"00000000-0000-4000-8000-{n:012d}", f"user{n:06d}"


def _case(random_100: str) -> str:
    """A simple CASE over one draw in 0..99 naming the action (one draw per row)."""
    whens = []
    n = 0
    for name, weight in ACTIONS:
        for _ in range(weight):
            whens.append(f"WHEN {n} THEN '{name}'")
            n += 1
    assert n == 100
    return f"CASE {random_100} {' '.join(whens)} END"


def generator(dialect: str, args: argparse.Namespace, start: float) -> str:
    """INSERT … SELECT that makes the rows inside the database (Python would take an hour).

    Each row draws its account (a tenth of the events go to the HEAVY
    accounts), its action, and 5 % of the sign-ins are filed under the
    login alone (an unknown account then); rows are in time order.
    """
    step = args.days * 86400 / args.rows
    if dialect == "sqlite":

        def rnd(n: int) -> str:
            return f"(abs(random()) % {n})"

        at = f"strftime('%Y-%m-%d %H:%M:%S', {start} + i * {step}, 'unixepoch') || '.000000'"
        uuid = "printf('00000000-0000-4000-8000-%012d', n)"
        login = "printf('user%06d', n)"
        details = '\'{"computer": "private"}\''
        empty = "'{}'"
    else:

        def rnd(n: int) -> str:
            return f"floor(random() * {n})::int"

        at = f"to_timestamp({start} + i * {step}) AT TIME ZONE 'UTC'"
        uuid = "'00000000-0000-4000-8000-' || lpad(n::text, 12, '0')"
        login = "'user' || lpad(n::text, 6, '0')"
        details = '\'{"computer": "private"}\'::json'
        empty = "'{}'::json"
    account = (
        f"CASE {rnd(10)} WHEN 0 THEN {rnd(HEAVY)} ELSE {HEAVY} + {rnd(args.accounts - HEAVY)} END"
    )
    draws = f"{account} AS n, {_case(rnd(100))} AS a, {rnd(100)} AS r"
    outcome = (
        f"CASE {rnd(5)} WHEN 0 THEN 'failure' WHEN 1 THEN 'invalid_credentials' ELSE 'success' END"
    )
    ip = f"'10.' || {rnd(256)} || '.' || {rnd(256)} || '.' || (1 + {rnd(254)})"
    select = (
        f"SELECT {at}, a, {outcome}, "
        f"CASE WHEN a = 'login' AND r < 5 THEN NULL ELSE {uuid} END, {login}, NULL, {ip}, "
        f"CASE WHEN a = 'login' THEN {details} ELSE {empty} END"
    )
    if dialect == "sqlite":
        recursion = f"UNION ALL SELECT i + 1, {draws} FROM g WHERE i + 1 < {args.rows}"  # noqa: S608
        source = f"WITH RECURSIVE g(i, n, a, r) AS (SELECT 0, {draws} {recursion}) "
        return f"INSERT INTO audit_events ({COLUMNS}) {source}{select} FROM g"
    series = f"generate_series(0, {args.rows - 1})"
    source = f"(SELECT i, {draws} FROM {series} AS i OFFSET 0) AS g"  # noqa: S608
    return f"INSERT INTO audit_events ({COLUMNS}) {select} FROM {source}"


COLUMNS = "at, action, outcome, account_uuid, login, actor, ip, details"


def _start(args: argparse.Namespace) -> float:
    return float(int(time.time() - args.days * 86400))


def fill_sqlite(path: Path, args: argparse.Namespace) -> None:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-500000")
    for name, _ in INDEXES:
        db.execute(f"DROP INDEX IF EXISTS {name}")
    db.execute(generator("sqlite", args, _start(args)))
    db.commit()
    for name, columns in INDEXES:
        db.execute(f"CREATE INDEX {name} ON audit_events ({columns})")
    db.execute("ANALYZE")
    db.commit()
    db.close()


def fill_postgresql(url: str, args: argparse.Namespace) -> None:
    engine = make_engine(url)
    upgrade(engine)
    raw: Any = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for name, _ in INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
        cursor.execute(generator("postgresql", args, _start(args)))
        raw.commit()
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for name, columns in INDEXES:
            cursor.execute(f"CREATE INDEX {name} ON audit_events ({columns})")
        cursor.execute("ANALYZE audit_events")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()


def plan(engine: Any, uuid: str, login: str, since: datetime) -> str:
    """The database's plan for the statement ``history_for`` sends (the indexes it uses)."""
    from sqlalchemy import event

    sent: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        sent.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        history_for(engine, uuid, login, since, 1, 20)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, params = sent[-1]
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        lines = conn.exec_driver_sql(explain + statement, params).all()
    return " | ".join(str(line[-1]).strip() for line in lines)


def measure(url: str, args: argparse.Namespace, label: str) -> list[dict[str, Any]]:
    engine = make_engine(url)
    since = datetime.now(UTC) - timedelta(days=args.history_days)
    rng = random.Random(args.seed + 1)  # noqa: S311
    results = []
    cases = (
        ("typical account, page 1", False, 1),
        ("typical account, page 5", False, 5),
        ("heavy account, page 1", True, 1),
        ("heavy account, page 5", True, 5),
    )
    uuid, login = account(HEAVY + 1)
    print(f"# {label} plan: {plan(engine, uuid, login, since)}", file=sys.stderr)
    for name, heavy, page in cases:
        timings = []
        found = 0
        for _ in range(args.calls):
            n = rng.randrange(HEAVY) if heavy else rng.randrange(HEAVY, args.accounts)
            uuid, login = account(n)
            began = time.perf_counter()
            events, _more = history_for(engine, uuid, login, since, page, 20)
            timings.append((time.perf_counter() - began) * 1000)
            found += len(events)
        timings.sort()
        results.append(
            {
                "database": label,
                "rows": args.rows,
                "case": name,
                "calls": args.calls,
                "events_per_call": round(found / args.calls, 1),
                "p50_ms": round(statistics.median(timings), 3),
                "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 3),
                "max_ms": round(timings[-1], 3),
            }
        )
    engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=400, help="the trail's span")
    parser.add_argument("--history-days", type=int, default=60, help="[sessions] history_days")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--sqlite", type=Path, help="keep (or reuse) the SQLite file here")
    parser.add_argument("--no-postgresql", action="store_true")
    args = parser.parse_args()

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cas-audit-bench-") as work:
        path = args.sqlite or Path(work) / "audit.sqlite3"
        if not path.exists():
            began = time.perf_counter()
            fill_sqlite(path, args)
            print(f"# SQLite filled in {time.perf_counter() - began:.0f} s", file=sys.stderr)
        results += measure(f"sqlite:///{path}", args, "SQLite")
        if not args.no_postgresql:
            from benchmarks.run import postgresql_available, postgresql_cluster

            why = postgresql_available()
            if why:
                print(f"# PostgreSQL skipped: {why}", file=sys.stderr)
            else:
                with contextlib.ExitStack() as stack:
                    (url,) = stack.enter_context(postgresql_cluster(Path(work)))
                    began = time.perf_counter()
                    fill_postgresql(url, args)
                    print(
                        f"# PostgreSQL filled in {time.perf_counter() - began:.0f} s",
                        file=sys.stderr,
                    )
                    results += measure(url, args, "PostgreSQL")
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
