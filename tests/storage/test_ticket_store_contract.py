"""One contract, every ticket store: the same promises on memory, SQLite,
PostgreSQL and Redis (real servers, started by ``tests/support/servers.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cas_server.protocol.cas.tickets import (
    Authentication,
    Principal,
    ProxyGrantingTicket,
    ServiceTicket,
    TicketGrantingTicket,
    new_ticket_id,
    ticket_digest,
)
from cas_server.storage.redis.tickets import RedisTicketRegistry
from cas_server.storage.sql.tickets import SqlTicketRegistry
from tests.support.ticket_stores import STORES, ticket_store

NOW = 1_800_000_000.0
AUTH = Authentication(Principal("alice", {"mail": ("a@x.org",), "memberOf": ("a", "b")}), NOW, True)


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    yield from ticket_store(request, tmp_path)


def tgt(idle: float = 100, hard: float = 1000) -> TicketGrantingTicket:
    return TicketGrantingTicket(
        id=new_ticket_id("TGT"),
        authentication=AUTH,
        created_at=NOW,
        expires_at=NOW + hard,
        idle_timeout=idle,
        last_used_at=NOW,
    )


def st(
    session: TicketGrantingTicket, *, logout_url: str | None = None, prefix: str = "ST"
) -> ServiceTicket:
    return ServiceTicket(
        id=new_ticket_id(prefix),
        service="https://app.example.org/",
        service_id="app",
        tgt_id=session.id,
        authentication=session.authentication,
        from_new_login=True,
        created_at=NOW,
        expires_at=NOW + 10,
        proxies=("https://p2/cb", "https://p1/cb") if prefix == "PT" else (),
        logout_url=logout_url,
    )


def test_session_round_trip_and_expiry(store: object) -> None:
    session = tgt()
    store.add_ticket_granting_ticket(session)  # type: ignore[attr-defined]
    got = store.get_ticket_granting_ticket(session.id, NOW + 1)  # type: ignore[attr-defined]
    assert got is not None
    assert got.authentication == AUTH
    assert store.get_ticket_granting_ticket(session.id, NOW + 101) is None  # type: ignore[attr-defined]
    assert store.get_ticket_granting_ticket(new_ticket_id("TGT"), NOW) is None  # type: ignore[attr-defined]


def test_grant_touches_the_session(store: object) -> None:
    session = tgt(idle=100)
    store.add_ticket_granting_ticket(session)  # type: ignore[attr-defined]
    for step in (90, 180, 270):
        granted = store.grant_service_ticket(session.id, NOW + step, lambda t: st(t))  # type: ignore[attr-defined]
        assert granted is not None
    assert store.grant_service_ticket(session.id, NOW + 380, lambda t: st(t)) is None  # type: ignore[attr-defined]


def test_grant_stores_nothing_when_build_raises(store: object) -> None:
    session = tgt()
    store.add_ticket_granting_ticket(session)  # type: ignore[attr-defined]
    made: list[ServiceTicket] = []

    def build(t: TicketGrantingTicket) -> ServiceTicket:
        made.append(st(t))
        raise PermissionError("access denied")

    with pytest.raises(PermissionError):
        store.grant_service_ticket(session.id, NOW, build)  # type: ignore[attr-defined]
    assert store.consume_service_ticket(made[0].id) is None  # type: ignore[attr-defined]


def test_consume_is_single_use_and_round_trips(store: object) -> None:
    session = tgt()
    store.add_ticket_granting_ticket(session)  # type: ignore[attr-defined]
    ticket = st(session, prefix="PT")
    store.add_service_ticket(ticket)  # type: ignore[attr-defined]
    got = store.consume_service_ticket(ticket.id)  # type: ignore[attr-defined]
    assert got is not None
    assert (got.id, got.service, got.service_id, got.proxies, got.from_new_login) == (
        ticket.id,
        ticket.service,
        "app",
        ("https://p2/cb", "https://p1/cb"),
        True,
    )
    assert got.authentication == AUTH
    assert got.is_proxy_ticket
    assert store.consume_service_ticket(ticket.id) is None  # type: ignore[attr-defined]


def test_consume_is_atomic_under_threads(store: object) -> None:
    session = tgt()
    store.add_ticket_granting_ticket(session)  # type: ignore[attr-defined]
    for _ in range(10):
        ticket = st(session)
        store.add_service_ticket(ticket)  # type: ignore[attr-defined]
        barrier = threading.Barrier(8)
        wins: list[object] = []

        def attempt(
            ticket_id: str = ticket.id,
            barrier: threading.Barrier = barrier,
            wins: list[object] = wins,
        ) -> None:
            barrier.wait(timeout=10)
            if store.consume_service_ticket(ticket_id) is not None:  # type: ignore[attr-defined]
                wins.append(ticket_id)

        threads = [threading.Thread(target=attempt) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
        assert len(wins) == 1


def test_logout_cascades_and_lists_single_logout_targets(store: object) -> None:
    session, other = tgt(), tgt()
    store.add_ticket_granting_ticket(session)  # type: ignore[attr-defined]
    store.add_ticket_granting_ticket(other)  # type: ignore[attr-defined]
    delivered = st(session, logout_url="https://app.example.org/slo")
    undelivered = st(session, logout_url="https://app.example.org/slo")
    silent = st(session)
    elsewhere = st(other, logout_url="https://app.example.org/slo")
    for ticket in (delivered, undelivered, silent, elsewhere):
        store.add_service_ticket(ticket)  # type: ignore[attr-defined]
    store.consume_service_ticket(delivered.id)  # type: ignore[attr-defined]
    store.consume_service_ticket(silent.id)  # type: ignore[attr-defined]
    store.consume_service_ticket(elsewhere.id)  # type: ignore[attr-defined]
    pgt = ProxyGrantingTicket(
        id=new_ticket_id("PGT"),
        tgt_id=ticket_digest(session.id),  # as the validator passes it on
        service_id="app",
        authentication=AUTH,
        proxies=("https://p/cb",),
        created_at=NOW,
        expires_at=NOW + 100,
    )
    store.add_proxy_granting_ticket(pgt)  # type: ignore[attr-defined]
    assert store.get_proxy_granting_ticket(pgt.id, NOW) is not None  # type: ignore[attr-defined]

    targets = store.destroy_ticket_granting_ticket(session.id)  # type: ignore[attr-defined]
    assert [(t.ticket_id, t.logout_url) for t in targets] == [
        (delivered.id, "https://app.example.org/slo")
    ]
    assert store.get_ticket_granting_ticket(session.id, NOW) is None  # type: ignore[attr-defined]
    assert store.get_proxy_granting_ticket(pgt.id, NOW) is None  # type: ignore[attr-defined]
    assert store.consume_service_ticket(undelivered.id) is None  # type: ignore[attr-defined]
    assert store.get_ticket_granting_ticket(other.id, NOW) is not None  # type: ignore[attr-defined]


def test_pgt_dies_with_an_expired_session(store: object) -> None:
    session = tgt(idle=50)
    store.add_ticket_granting_ticket(session)  # type: ignore[attr-defined]
    pgt = ProxyGrantingTicket(
        id=new_ticket_id("PGT"),
        tgt_id=session.id,
        service_id="app",
        authentication=AUTH,
        proxies=("https://p/cb",),
        created_at=NOW,
        expires_at=NOW + 1000,
    )
    store.add_proxy_granting_ticket(pgt)  # type: ignore[attr-defined]
    assert store.get_proxy_granting_ticket(pgt.id, NOW + 10) is not None  # type: ignore[attr-defined]
    assert store.get_proxy_granting_ticket(pgt.id, NOW + 60) is None  # type: ignore[attr-defined]


def test_sessions_of_a_user(store: object) -> None:
    sessions = [tgt(), tgt()]
    for session in sessions:
        store.add_ticket_granting_ticket(session)  # type: ignore[attr-defined]
    assert len(store.sessions_for("alice", NOW)) == 2  # type: ignore[attr-defined]
    assert store.sessions_for("bob", NOW) == []  # type: ignore[attr-defined]
    store.destroy_sessions_for("alice")  # type: ignore[attr-defined]
    assert store.sessions_for("alice", NOW) == []  # type: ignore[attr-defined]
    assert all(store.get_ticket_granting_ticket(s.id, NOW) is None for s in sessions)  # type: ignore[attr-defined]


def test_purge_removes_only_what_is_dead(store: object) -> None:
    live, dead = tgt(hard=1000), tgt(hard=10)
    store.add_ticket_granting_ticket(live)  # type: ignore[attr-defined]
    store.add_ticket_granting_ticket(dead)  # type: ignore[attr-defined]
    expired = st(live)
    kept_for_slo = st(live, logout_url="https://app.example.org/slo")
    store.add_service_ticket(expired)  # type: ignore[attr-defined]
    store.add_service_ticket(kept_for_slo)  # type: ignore[attr-defined]
    store.consume_service_ticket(kept_for_slo.id)  # type: ignore[attr-defined]
    removed = store.purge_expired(NOW + 50)  # type: ignore[attr-defined]
    assert removed == 2  # the dead session and the expired ticket
    assert store.get_ticket_granting_ticket(live.id, NOW + 50) is not None  # type: ignore[attr-defined]
    targets = store.destroy_ticket_granting_ticket(live.id)  # type: ignore[attr-defined]
    assert [t.ticket_id for t in targets] == [kept_for_slo.id]


def pgt_of(session: TicketGrantingTicket, *, digest: bool = False) -> ProxyGrantingTicket:
    return ProxyGrantingTicket(
        id=new_ticket_id("PGT"),
        tgt_id=ticket_digest(session.id) if digest else session.id,
        service_id="app",
        authentication=AUTH,
        proxies=("https://p/cb",),
        created_at=NOW,
        expires_at=NOW + 1000,
    )


@pytest.mark.parametrize("ending", ["logout", "expiry", "unknown"])
@pytest.mark.parametrize("digest", [False, True], ids=["plain-root", "digest-root"])
def test_no_proxy_ticket_or_pgt_outlives_a_session_that_ended_meanwhile(
    store: object, ending: str, digest: bool
) -> None:
    # The validator stores a PGT after its callback answered, and /proxy a PT
    # after reading the PGT: the session may end in between. The store checks
    # it in the same atomic step as the insert, as grant_service_ticket does.
    session = tgt(idle=100)
    if ending != "unknown":
        store.add_ticket_granting_ticket(session)  # type: ignore[attr-defined]
    if ending == "logout":
        store.destroy_ticket_granting_ticket(session.id)  # type: ignore[attr-defined]
    late = NOW + 200 if ending == "expiry" else NOW  # past the idle timeout
    root = ticket_digest(session.id) if digest else session.id
    pt = replace(st(session, prefix="PT"), tgt_id=root, created_at=late, expires_at=late + 10)
    pgt = replace(pgt_of(session, digest=digest), created_at=late, expires_at=late + 1000)
    store.add_service_ticket(pt)  # type: ignore[attr-defined]
    store.add_proxy_granting_ticket(pgt)  # type: ignore[attr-defined]
    assert store.consume_service_ticket(pt.id) is None  # type: ignore[attr-defined]
    # A PGT of a dead session reads as None anyway: to see that none was stored,
    # ask at an instant its session is alive (the session back, or before expiry).
    if ending != "expiry":
        store.add_ticket_granting_ticket(session)  # type: ignore[attr-defined]
    assert store.get_proxy_granting_ticket(pgt.id, NOW + 1) is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("digest", [False, True], ids=["plain-root", "digest-root"])
def test_proxy_ticket_and_pgt_of_a_live_session_are_stored(store: object, digest: bool) -> None:
    session = tgt()
    store.add_ticket_granting_ticket(session)  # type: ignore[attr-defined]
    pt = st(session, prefix="PT")
    if digest:
        pt = replace(pt, tgt_id=ticket_digest(session.id))
    pgt = pgt_of(session, digest=digest)
    store.add_service_ticket(pt)  # type: ignore[attr-defined]
    store.add_proxy_granting_ticket(pgt)  # type: ignore[attr-defined]
    assert store.get_proxy_granting_ticket(pgt.id, NOW + 1) is not None  # type: ignore[attr-defined]
    assert store.consume_service_ticket(pt.id) is not None  # type: ignore[attr-defined]
    # And they still go with their session.
    store.destroy_ticket_granting_ticket(session.id)  # type: ignore[attr-defined]
    assert store.get_proxy_granting_ticket(pgt.id, NOW + 1) is None  # type: ignore[attr-defined]


# --- issue 14: the second factor changes a live session's authentication ----------------

STEPPED = replace(AUTH, methods=("password", "totp"), mfa_at=NOW + 5)


def same_store_other_process(store: Any) -> Any:
    """Another worker on the same store: its own caches, the same data."""
    if isinstance(store, SqlTicketRegistry):
        return SqlTicketRegistry(store.engine)
    if isinstance(store, RedisTicketRegistry):
        return RedisTicketRegistry(store.client, store.prefix)
    return store


def test_replace_authentication_on_a_live_session(store: Any) -> None:
    session = tgt(idle=100)
    store.add_ticket_granting_ticket(session)
    updated = store.replace_authentication(session.id, STEPPED, NOW + 5)
    assert updated is not None
    assert updated.id == session.id
    assert updated.authentication == STEPPED
    assert (updated.created_at, updated.expires_at, updated.idle_timeout) == (
        session.created_at,
        session.expires_at,
        session.idle_timeout,
    )
    got = store.get_ticket_granting_ticket(session.id, NOW + 6)
    assert got is not None and got.authentication == STEPPED
    assert got.authentication.second_factor is True
    # The session ends when it always would have: a step-up is not a way to extend it.
    assert store.get_ticket_granting_ticket(session.id, NOW + 101) is None
    listed = store.sessions_for("alice", NOW + 6)
    assert [s.authentication for s in listed] == [STEPPED]


@pytest.mark.parametrize("ending", ["logout", "idle", "hard", "unknown", "user-logout"])
def test_replace_authentication_of_an_ended_session_gives_none(store: Any, ending: str) -> None:
    session = tgt(idle=100, hard=150)
    store.add_ticket_granting_ticket(session)
    now = NOW + 5
    tgt_id = session.id
    if ending == "logout":
        store.destroy_ticket_granting_ticket(session.id)
    elif ending == "user-logout":
        store.destroy_sessions_for("alice")
    elif ending == "idle":
        now = NOW + 101
    elif ending == "hard":
        store.grant_service_ticket(session.id, NOW + 90, lambda t: st(t))  # touched: idle is fine
        now = NOW + 151
    else:
        tgt_id = new_ticket_id("TGT")
    assert store.replace_authentication(tgt_id, STEPPED, now) is None
    # Nothing came back to life, and nothing was written under that name.
    before = store.get_ticket_granting_ticket(tgt_id, NOW + 1)
    assert before is None or before.authentication == AUTH
    assert store.grant_service_ticket(tgt_id, now, lambda t: st(t)) is None


def test_replace_authentication_never_hands_a_session_to_another_principal(store: Any) -> None:
    session = tgt()
    store.add_ticket_granting_ticket(session)
    mallory = replace(STEPPED, principal=Principal("mallory"))
    assert store.replace_authentication(session.id, mallory, NOW + 1) is None
    got = store.get_ticket_granting_ticket(session.id, NOW + 1)
    assert got is not None and got.authentication == AUTH
    assert store.sessions_for("mallory", NOW + 1) == []


def test_tickets_issued_before_keep_their_copy(store: Any) -> None:
    session = tgt()
    store.add_ticket_granting_ticket(session)
    granted = store.grant_service_ticket(session.id, NOW + 1, lambda t: st(t))
    added = st(session)
    store.add_service_ticket(added)
    pgt = pgt_of(session)
    store.add_proxy_granting_ticket(pgt)
    assert store.replace_authentication(session.id, STEPPED, NOW + 5) is not None
    for ticket in (granted, added):
        consumed = store.consume_service_ticket(ticket.id)
        assert consumed is not None and consumed.authentication == AUTH
    got_pgt = store.get_proxy_granting_ticket(pgt.id, NOW + 6)
    assert got_pgt is not None and got_pgt.authentication == AUTH
    # A proxy ticket from that (password-only) PGT is still stored: its copy need not match.
    pt = replace(st(session, prefix="PT"), authentication=AUTH, created_at=NOW + 6)
    store.add_service_ticket(pt)
    assert store.consume_service_ticket(pt.id) is not None


def test_a_ticket_granted_after_carries_the_new_methods(store: Any) -> None:
    session = tgt()
    store.add_ticket_granting_ticket(session)
    # The session is known (cached) by the process that grants from it.
    assert store.grant_service_ticket(session.id, NOW + 1, lambda t: st(t)) is not None
    assert store.replace_authentication(session.id, STEPPED, NOW + 5) is not None
    seen: list[Authentication] = []

    def build(t: TicketGrantingTicket) -> ServiceTicket:
        seen.append(t.authentication)
        return st(t)

    after = store.grant_service_ticket(session.id, NOW + 6, build)
    assert after is not None and after.authentication == STEPPED
    assert seen[-1] == STEPPED
    consumed = store.consume_service_ticket(after.id)
    assert consumed is not None and consumed.authentication == STEPPED
    assert consumed.authentication.methods == ("password", "totp")


def test_a_step_up_in_another_process_reaches_this_one(store: Any) -> None:
    """Worker A remembers the session; worker B steps it up; A's next ticket says so."""
    session = tgt()
    store.add_ticket_granting_ticket(session)
    other = same_store_other_process(store)
    assert store.grant_service_ticket(session.id, NOW + 1, lambda t: st(t)) is not None
    assert other.replace_authentication(session.id, STEPPED, NOW + 5) is not None
    after = store.grant_service_ticket(session.id, NOW + 6, lambda t: st(t))
    assert after is not None
    consumed = other.consume_service_ticket(after.id)
    assert consumed is not None and consumed.authentication == STEPPED
    # And a session that ended meanwhile still gives nothing from the remembered copy.
    assert store.grant_service_ticket(session.id, NOW + 7, lambda t: st(t)) is not None
    other.destroy_ticket_granting_ticket(session.id)
    assert store.grant_service_ticket(session.id, NOW + 8, lambda t: st(t)) is None
