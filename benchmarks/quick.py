"""A quick measure of the hot paths on this machine (the full suite is issue 7).

Starts the real server under gunicorn (2 workers) on a throwaway SQLite
database, pre-issues service tickets through the real ticket store, and
drives wrk against /p3/serviceValidate (one fresh ticket per request) and
/login?service=… with a ticket-granting cookie (SSO issue). Prints requests
per second and latency. Speed is reported, never asserted.

    .venv/bin/python benchmarks/quick.py [--seconds 10] [--tickets 60000]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wrk(
    url: str, seconds: int, script: str, env: dict[str, str], threads: int = 2
) -> dict[str, str]:
    out = subprocess.run(
        ["wrk", f"-t{threads}", "-c16", f"-d{seconds}s", "--latency", "-s", script, url],
        env={**os.environ, **env, "WRK_THREADS": str(threads)},
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"50%\s+(\S+)", out)
    p99 = re.search(r"99%\s+(\S+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps.group(1) if rps else "?",
        "p50": p50.group(1) if p50 else "?",
        "p99": p99.group(1) if p99 else "?",
        "errors": non2xx.group(1) if non2xx else "0",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--tickets", type=int, default=60000)
    args = parser.parse_args()

    from cas_server.protocol.tickets import (
        Authentication,
        Principal,
        ServiceTicket,
        TicketGrantingTicket,
        new_ticket_id,
    )
    from cas_server.storage.sql.db import make_engine
    from cas_server.storage.sql.migrate import upgrade
    from cas_server.storage.sql.tickets import SqlTicketRegistry

    work = Path(tempfile.mkdtemp(prefix="cas-bench-"))
    db = work / "bench.sqlite3"
    services = work / "services.toml"
    services.write_text(
        '[[services]]\nid = "bench"\nname = "Bench"\n'
        "url_pattern = '^https://bench\\.example\\.org/.*$'\n"
        'release_attributes = ["uid", "mail", "eduPersonAffiliation"]\n'
    )
    config = work / "cas.toml"
    config.write_text(
        f'[server]\nmode = "test"\nsecret_key = "{"b" * 40}"\n'
        f'[database]\nurl = "sqlite:///{db}"\n[passwords]\nbcrypt_cost = 4\n'
        f'[tickets]\nservice_ticket_ttl = 3600\n[charters]\npath = ""\n'
        f"[services]\npaths = [{str(services)!r}]\n"
    )
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    store = SqlTicketRegistry(engine)
    now = time.time()
    auth = Authentication(
        Principal(
            "alice",
            {
                "uid": ("alice",),
                "mail": ("alice@example.org",),
                "eduPersonAffiliation": ("student", "member"),
            },
        ),
        now,
    )
    tgt = TicketGrantingTicket(new_ticket_id("TGT"), auth, now, now + 36000, 36000, now)
    store.add_ticket_granting_ticket(tgt)
    service = "https://bench.example.org/app"
    lines = []
    for _ in range(args.tickets):
        st = ServiceTicket(
            new_ticket_id("ST"), service, "bench", tgt.id, auth, True, now, now + 3600
        )
        store.add_service_ticket(st)
        lines.append(f"{st.id} {quote(service, safe='')}")
    tickets_file = work / "tickets.txt"
    tickets_file.write_text("\n".join(lines) + "\n")
    engine.dispose()

    port = free_port()
    env = {
        **os.environ,
        "CAS_SERVER_CONFIG": str(config),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
        "GUNICORN_ACCESSLOG": "/dev/null",
    }
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-c", "config/gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/login", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        here = str(Path(__file__).parent)
        results = {
            "p3/serviceValidate (fresh ticket each)": wrk(
                base,
                args.seconds,
                f"{here}/tickets.lua",
                {"TICKETS_FILE": str(tickets_file), "VALIDATE_PATH": "/p3/serviceValidate"},
            ),
            "SSO ticket issue (/login?service= with TGC)": wrk(
                base,
                args.seconds,
                f"{here}/sso.lua",
                {
                    "TGC_COOKIE": f"TGC={tgt.id}",
                    "SSO_PATH": "/login?service=" + quote(service, safe=""),
                },
            ),
            "login page GET": wrk(
                base, args.seconds, f"{here}/sso.lua", {"TGC_COOKIE": "x=1", "SSO_PATH": "/login"}
            ),
        }
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
    print(f"{'workload':45s} {'req/s':>9s} {'p50':>9s} {'p99':>9s} {'non-2xx/3xx':>12s}")
    for name, r in results.items():
        print(f"{name:45s} {r['rps']:>9s} {r['p50']:>9s} {r['p99']:>9s} {r['errors']:>12s}")


if __name__ == "__main__":
    main()
