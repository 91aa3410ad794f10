"""PostgreSQL primary and streaming standby: crash the primary under traffic, promote the standby.

Two gunicorn nodes with everything in PostgreSQL (accounts, tickets,
counters) through the multi-host URL ``?host=primary,standby&
target_session_attrs=read-write``; the standby is synchronous
(``synchronous_standby_names``), as a deployment that must not lose an
acknowledged write runs it. The traffic adds password changes through
``/profile/password``. The primary is stopped with ``-m immediate`` (a
crash), the standby promoted 1 s later (what Patroni or an operator does).

Afterwards, on the new primary: every acknowledged password change is
there (the account's password is the last acknowledged one or a later
attempt whose answer was lost), and none is half-applied (the newest
history entry is the account's hash: both are written in one transaction);
every service ticket acknowledged still validates once; while there was no
primary the answers were quick 503 pages or ``INTERNAL_ERROR``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from tests.ha.conftest import (
    USERS,
    Traffic,
    node_config,
    replay_ended_sessions,
    unexpected_errors,
)
from tests.support.app import PASSWORD
from tests.support.ha import PostgresPair, postgres_standby_pair
from tests.support.html import csrf
from tests.support.nodes import Node, create_accounts, migrated, start_nodes

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHANGERS = [f"pw{n:02d}" for n in range(3)]
DATABASE = "cas_ha"


@pytest.fixture(scope="module")
def pair() -> Iterator[PostgresPair]:
    with postgres_standby_pair(synchronous=True) as started:
        yield started


@pytest.fixture(scope="module")
def nodes(pair: PostgresPair, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Node]]:
    pair.primary.execute(f"CREATE DATABASE {DATABASE}")
    url = pair.multi_host_url(DATABASE)
    migrated(url).dispose()
    folder: Path = tmp_path_factory.mktemp("ha-pg")
    config = node_config(folder, url, "sql")
    create_accounts(config, USERS + CHANGERS)
    started = start_nodes(config, folder)
    yield started
    for node in started:
        node.stop()


def test_the_multi_host_url_skips_the_standby(pair: PostgresPair) -> None:
    """The standby listed first: libpq moves on to the server that accepts writes."""
    from sqlalchemy import text

    from cas_server.storage.sql.db import make_engine

    hosts = f"127.0.0.1:{pair.standby.port},127.0.0.1:{pair.primary.port}"
    engine = make_engine(
        f"postgresql+psycopg://postgres@/postgres?host={hosts}&target_session_attrs=read-write"
    )
    with engine.connect() as conn:
        assert conn.execute(text("SELECT inet_server_port()")).scalar() == pair.primary.port
        assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar() is False
    engine.dispose()


@dataclass
class Changes:
    """One user's password changes: what was acknowledged, what was only attempted."""

    login: str
    acknowledged: list[str] = field(default_factory=list)
    attempted: list[str] = field(default_factory=list)  # every new password sent
    candidates: list[str] = field(default_factory=lambda: [PASSWORD])  # the current one is among
    signed_in: bool = False


def _profile_sign_in(traffic: Traffic, session: requests.Session, node: Node, c: Changes) -> bool:
    first = traffic.request("profile", session, "GET", node.url + "/profile/", expect=(302,))
    if first is None or first.status_code != 302:
        return False
    form_url = urljoin(node.url, first.headers["Location"])
    form = traffic.request("profile_login_form", session, "GET", form_url)
    if form is None or form.status_code != 200:
        return False
    answer = traffic.request(
        "profile_sign_in",
        session,
        "POST",
        form_url,
        expect=(302,),
        data={
            "username": c.login,
            "password": c.candidates[0],
            "csrf_token": csrf(form.text),
            "service": parse_qs(urlsplit(form_url).query)["service"][0],
        },
    )
    if answer is None or answer.status_code != 302:
        if answer is not None and answer.status_code == 401 and len(c.candidates) > 1:
            c.candidates.pop(0)  # that one was not it
        return False
    back = traffic.request(
        "profile_callback",
        session,
        "GET",
        urljoin(node.url, answer.headers["Location"]),
        expect=(302,),
    )
    return back is not None and back.status_code == 302


def change_passwords(traffic: Traffic, changes: Changes, node: Node) -> None:
    session = requests.Session()
    n = 0
    while not traffic.stop.is_set():
        if not changes.signed_in:
            changes.signed_in = _profile_sign_in(traffic, session, node, changes)
            if not changes.signed_in:
                time.sleep(0.1)
                continue
        page = traffic.request("password_form", session, "GET", node.url + "/profile/password")
        if page is None or page.status_code != 200:
            changes.signed_in = page is not None and page.status_code != 302
            time.sleep(0.05)
            continue
        n += 1
        new = f"Bascule-{changes.login[::-1]}x-{n:03d}-Zq9!"
        changes.attempted.append(new)
        answer = traffic.request(
            "password_change",
            session,
            "POST",
            node.url + "/profile/password",
            expect=(303,),
            data={
                "csrf_token": csrf(page.text),
                "current_password": changes.candidates[0],
                "new_password": new,
                "confirm_password": new,
            },
        )
        if answer is not None and answer.status_code == 303:
            changes.acknowledged.append(new)
            changes.candidates = [new]
            continue  # this browser got the fresh session: still signed in
        if answer is not None and answer.status_code == 400 and len(changes.candidates) > 1:
            changes.candidates.pop(0)  # refused: the current password was the other one
        else:
            changes.candidates = [new, *changes.candidates]  # committed or not: unknown
        session.cookies.clear()  # the outcome is unknown: sign in again
        changes.signed_in = False


def test_a_promoted_standby_has_every_acknowledged_password_change(
    pair: PostgresPair, nodes: list[Node]
) -> None:
    import threading

    traffic = Traffic(nodes, USERS)
    changes = [Changes(login) for login in CHANGERS]
    changers = [
        threading.Thread(target=change_passwords, args=(traffic, c, nodes[n % 2]))
        for n, c in enumerate(changes)
    ]
    for thread in changers:
        thread.start()
    stopped: list[float] = []

    def crash_and_promote() -> float:
        time.sleep(4.0)
        stopped_at = time.monotonic()
        pair.stop_primary("immediate")
        stopped.append(time.monotonic())
        time.sleep(1.0)  # the operator's (or Patroni's) reaction time
        pair.promote()
        stopped.append(time.monotonic())
        return stopped_at

    try:
        stopped_at = traffic.run(threads=4, during=crash_and_promote, settle=3.0, limit=30.0)
    finally:
        traffic.stop.set()
        for thread in changers:
            thread.join(timeout=30)
    summary = traffic.summary(stopped_at)
    promoted_at = stopped[-1] - stopped_at
    after_promotion = traffic.first_success_after(stopped[-1], ("sso", "sign_in", "validate"))

    # On the new primary.
    from cas_server.auth.hashing import verify_password

    missing, half_applied = [], []
    for c in changes:
        rows = pair.standby.execute(
            "SELECT a.password_hash, (SELECT h.password_hash FROM password_history h "
            "WHERE h.account_uuid = a.uuid ORDER BY h.created_at DESC, h.id DESC LIMIT 1) "
            f"FROM accounts a WHERE a.login = '{c.login}'",
            database=DATABASE,
        )
        current, newest = rows[0]
        if current != newest:
            half_applied.append(c.login)
        last = c.acknowledged[-1] if c.acknowledged else PASSWORD
        later = c.attempted[c.attempted.index(last) + 1 :] if c.acknowledged else c.attempted
        if not any(verify_password(p, str(current)) for p in [last, *later]):
            missing.append(c.login)
    doubles = [t for t in traffic.validated if traffic.validate(nodes[0], t, "replay") == "success"]
    lost = [t for _at, t in traffic.pending if traffic.validate(nodes[1], t, "late") != "success"]
    resurrected = replay_ended_sessions(traffic)
    acknowledged = sum(len(c.acknowledged) for c in changes)
    print(
        f"\npostgres failover: {summary}; promoted {promoted_at:.2f} s after the stop, first "
        f"success {None if after_promotion is None else round(after_promotion - stopped[-1], 2)} s "
        f"after the promotion; password changes acknowledged {acknowledged}, attempted "
        f"{sum(len(c.attempted) for c in changes)}, missing {missing}, half-applied "
        f"{half_applied}; validated {len(traffic.validated)}, double {len(doubles)}; pending "
        f"{len(traffic.pending)}, lost {len(lost)}; tickets for ended sessions {resurrected}"
    )
    assert not pair.standby.in_recovery()
    assert summary["outage_s"] is not None, "no success after the crash"
    assert missing == [] and half_applied == []
    assert acknowledged >= 3
    assert doubles == [] and lost == [] and resurrected == 0
    failures = {
        e.status
        for e in traffic.events
        if not e.ok and e.op not in ("replay", "late") and not e.op.startswith("profile")
    }
    five_hundred = [e.op for e in traffic.events if e.status == "500"]
    assert failures <= {"503", "INTERNAL_ERROR"}, (failures, five_hundred, unexpected_errors(nodes))
    assert float(summary["slowest_s"]) < 6.0  # type: ignore[arg-type]
