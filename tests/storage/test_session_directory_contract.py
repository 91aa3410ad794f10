"""The session directory (#15): the same promises on memory, SQLite, PostgreSQL and Redis.

Listing, services recorded once per (session, service), search by every
field, ending one session with and without its owner's check, and expired
sessions never listed. Real servers, as in ``test_ticket_store_contract.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cas_server.protocol.cas.ports import SessionQuery
from cas_server.protocol.cas.tickets import (
    Authentication,
    Principal,
    ServiceTicket,
    SessionClient,
    TicketGrantingTicket,
    new_ticket_id,
    ticket_digest,
)
from cas_server.storage.memory import MemoryTicketRegistry
from cas_server.storage.redis.tickets import RedisTicketRegistry
from cas_server.storage.sql.tickets import SqlTicketRegistry
from tests.support.ticket_stores import STORES, ticket_store

# Sessions start in the near future of the wall clock: destroy_session judges
# liveness by the store's own clock.
NOW = float(int(time.time())) + 3600
CAMPUS = SessionClient("10.1.2.3", "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0", "campus", False)
LIBRARY = SessionClient("192.0.2.7", "Mozilla/5.0 (iPhone) Safari/605.1", None, True)


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    yield from ticket_store(request, tmp_path)


def session(
    store: Any,
    login: str = "alice",
    *,
    at: float = NOW,
    client: SessionClient | None = CAMPUS,
    idle: float = 600,
    hard: float = 3600,
    long_term: bool = False,
    surrogate: str | None = None,
) -> TicketGrantingTicket:
    auth = Authentication(Principal(login, {"mail": (f"{login}@x.org",)}), at, long_term)
    if surrogate is not None:
        auth = Authentication(auth.principal, at, long_term, surrogate=surrogate)
    tgt = TicketGrantingTicket(
        id=new_ticket_id("TGT"),
        authentication=auth,
        created_at=at,
        expires_at=at + hard,
        idle_timeout=idle,
        last_used_at=at,
        client=client,
    )
    store.add_ticket_granting_ticket(tgt)
    return tgt


def ticket(
    tgt: TicketGrantingTicket, service_id: str = "moodle", at: float = NOW, **extra: Any
) -> ServiceTicket:
    return ServiceTicket(
        id=new_ticket_id("ST"),
        service=f"https://{service_id}.example.org/",
        service_id=service_id,
        tgt_id=tgt.id,
        authentication=tgt.authentication,
        from_new_login=False,
        created_at=at,
        expires_at=at + 10,
        **extra,
    )


def sso(store: Any, tgt: TicketGrantingTicket, service_id: str, at: float = NOW) -> None:
    granted = store.grant_service_ticket(tgt.id, at, lambda t: ticket(t, service_id, at))
    assert granted is not None


def handles(records: list[Any]) -> list[str]:
    return [r.handle for r in records]


def test_a_session_is_listed_with_its_client(store: Any) -> None:
    tgt = session(store, long_term=True)
    (record,) = store.sessions_of("alice", NOW + 1)
    assert record.handle == ticket_digest(tgt.id) != tgt.id
    assert record.principal_id == "alice"
    assert record.client == CAMPUS
    assert (record.created_at, record.last_used_at) == (NOW, NOW)
    assert record.expires_at == NOW + 600  # min(hard, last use + idle)
    assert record.long_term is True
    assert record.surrogate is None
    assert record.services == ()
    assert store.session(record.handle, NOW + 1) == record
    assert store.sessions_of("bob", NOW + 1) == []


def test_listing_is_newest_first_and_per_principal(store: Any) -> None:
    old = session(store, at=NOW)
    new = session(store, at=NOW + 10, client=LIBRARY)
    session(store, "bob", at=NOW + 5)
    listed = store.sessions_of("alice", NOW + 20)
    assert handles(listed) == [ticket_digest(new.id), ticket_digest(old.id)]
    assert listed[0].client == LIBRARY
    assert listed[0].client.public is True


def test_a_session_without_client_and_a_surrogate_one(store: Any) -> None:
    plain = session(store, client=None)
    acted = session(store, "carol", client=SessionClient(ip="10.9.9.9"), surrogate="hd.op")
    assert store.session(ticket_digest(plain.id), NOW).client is None
    record = store.session(ticket_digest(acted.id), NOW)
    assert record.surrogate == "hd.op"
    assert record.client == SessionClient(ip="10.9.9.9")


def test_a_long_user_agent_is_cut_to_400_characters(store: Any) -> None:
    tgt = session(store, client=SessionClient(ip="10.0.0.1", user_agent="x" * 1000))
    assert store.session(ticket_digest(tgt.id), NOW).client.user_agent == "x" * 400


def test_services_are_recorded_once_each_in_order(store: Any) -> None:
    tgt = session(store)
    sso(store, tgt, "moodle", NOW + 1)
    sso(store, tgt, "moodle", NOW + 2)
    sso(store, tgt, "ent", NOW + 3)
    # A ticket after the password (grant_after_login stores it directly).
    store.add_service_ticket(ticket(tgt, "mail", NOW + 4))
    store.add_service_ticket(ticket(tgt, "moodle", NOW + 5))
    (record,) = store.sessions_of("alice", NOW + 6)
    assert [(s.service_id, s.first_at) for s in record.services] == [
        ("moodle", NOW + 1),
        ("ent", NOW + 3),
        ("mail", NOW + 4),
    ]
    assert record.services[0].service == "https://moodle.example.org/"


def test_a_service_recorded_by_another_node_is_kept_once(store: Any) -> None:
    """Two registries on one store (two nodes): each records, the store keeps one row."""
    tgt = session(store)
    sso(store, tgt, "moodle", NOW + 1)
    if isinstance(store, SqlTicketRegistry):
        other: Any = SqlTicketRegistry(store.engine)
    elif isinstance(store, RedisTicketRegistry):
        other = RedisTicketRegistry(store.client, store.prefix)
    else:
        other = store
    sso(other, tgt, "moodle", NOW + 2)
    (record,) = other.sessions_of("alice", NOW + 3)
    assert [(s.service_id, s.first_at) for s in record.services] == [("moodle", NOW + 1)]


def test_repeated_sso_to_one_service_sends_no_record(store: Any, monkeypatch: Any) -> None:
    """The node remembers what it recorded: the second grant carries no record."""
    tgt = session(store)
    sso(store, tgt, "moodle", NOW + 1)
    if isinstance(store, MemoryTicketRegistry):  # in-process: nothing to write, kept once
        sso(store, tgt, "moodle", NOW + 2)
        assert len(store.session(ticket_digest(tgt.id), NOW + 2).services) == 1
    elif isinstance(store, SqlTicketRegistry):
        # Not a statement: running it would fail the grant.
        monkeypatch.setattr(store, "_record_service", None)
        sso(store, tgt, "moodle", NOW + 2)
    else:
        assert store._record_args(ticket_digest(tgt.id), ticket(tgt, "moodle")) == []
        assert store._record_args(ticket_digest(tgt.id), ticket(tgt, "ent")) != []


def test_no_service_is_recorded_for_an_ended_session(store: Any) -> None:
    tgt = session(store)
    store.destroy_ticket_granting_ticket(tgt.id)
    assert store.grant_service_ticket(tgt.id, NOW, lambda t: ticket(t)) is None
    store.add_service_ticket(ticket(tgt, "late"))
    assert store.search(SessionQuery(service_id="late"), NOW) == []


def test_search_by_every_field(store: Any) -> None:
    a = session(store, "alice", at=NOW)
    b = session(store, "bob", at=NOW + 100, client=LIBRARY)
    c = session(store, "carol", at=NOW + 200, client=SessionClient("10.1.2.3", None, "campus"))
    sso(store, a, "moodle", NOW + 300)
    sso(store, c, "moodle", NOW + 300)
    sso(store, b, "ent", NOW + 300)
    ha, hb, hc = (ticket_digest(t.id) for t in (a, b, c))
    at = NOW + 301

    def found(**query: Any) -> list[str]:
        return handles(store.search(SessionQuery(**query), at))

    assert found() == [hc, hb, ha]
    assert found(principal_id="bob") == [hb]
    assert found(ip="10.1.2.3") == [hc, ha]
    assert found(ip="192.0.2.7") == [hb]
    assert found(network="campus") == [hc, ha]
    assert found(service_id="moodle") == [hc, ha]
    assert found(service_id="ent") == [hb]
    assert found(started_before=NOW + 150) == [hb, ha]
    assert found(started_after=NOW + 50) == [hc, hb]
    assert found(started_after=NOW + 50, started_before=NOW + 150) == [hb]
    assert found(network="campus", service_id="moodle", principal_id="carol") == [hc]
    assert found(ip="10.1.2.3", started_before=NOW + 100) == [ha]
    assert found(network="campus", limit=1) == [hc]
    assert found(limit=2) == [hc, hb]
    for none in (
        {"principal_id": "dave"},
        {"ip": "10.0.0.0"},
        {"network": "lab"},
        {"service_id": "none"},
        {"principal_id": ""},
        {"ip": ""},
    ):
        assert found(**none) == []


def test_expired_sessions_are_never_listed_nor_found(store: Any) -> None:
    idle = session(store, "alice", idle=60)
    hard = session(store, "alice", at=NOW, idle=10_000, hard=100)
    sso(store, idle, "moodle", NOW + 1)
    later = NOW + 150
    assert store.sessions_of("alice", later) == []
    assert store.session(ticket_digest(idle.id), later) is None
    assert store.session(ticket_digest(hard.id), later) is None
    for query in (
        SessionQuery(),
        SessionQuery(ip="10.1.2.3"),
        SessionQuery(network="campus"),
        SessionQuery(service_id="moodle"),
        SessionQuery(principal_id="alice"),
    ):
        assert store.search(query, later) == []
    # Used within the idle timeout, it lives on: the deadline follows the use.
    assert store.sessions_of("alice", NOW + 50) != []


def test_destroy_with_the_owner_ends_it_and_names_the_services(store: Any) -> None:
    tgt = session(store)
    other = session(store)
    st = store.grant_service_ticket(
        tgt.id, NOW, lambda t: ticket(t, "moodle", logout_url="https://moodle.example.org/slo")
    )
    assert store.consume_service_ticket(st.id) is not None
    targets = store.destroy_session(ticket_digest(tgt.id), principal_id="alice")
    assert targets is not None
    assert [(t.service_id, t.ticket_id) for t in targets] == [("moodle", st.id)]
    assert store.get_ticket_granting_ticket(tgt.id, NOW) is None
    assert store.session(ticket_digest(tgt.id), NOW) is None
    assert store.search(SessionQuery(service_id="moodle"), NOW) == []
    assert handles(store.sessions_of("alice", NOW)) == [ticket_digest(other.id)]
    # Once only.
    assert store.destroy_session(ticket_digest(tgt.id), principal_id="alice") is None


def test_another_principals_handle_ends_nothing(store: Any) -> None:
    bobs = session(store, "bob")
    handle = ticket_digest(bobs.id)
    assert store.destroy_session(handle, principal_id="alice") is None
    assert store.destroy_session(handle, principal_id="") is None
    assert store.get_ticket_granting_ticket(bobs.id, NOW) is not None
    assert handles(store.sessions_of("bob", NOW)) == [handle]


def test_destroy_without_principal_and_unknown_handles(store: Any) -> None:
    tgt = session(store, "bob")
    assert store.destroy_session(ticket_digest(new_ticket_id("TGT"))) is None
    assert store.destroy_session("not-a-handle") is None
    assert store.destroy_session(ticket_digest(tgt.id)) == []
    assert store.get_ticket_granting_ticket(tgt.id, NOW) is None
    assert store.search(SessionQuery(ip="10.1.2.3"), NOW) == []


def test_logout_and_purge_take_the_services_along(store: Any) -> None:
    gone = session(store, idle=60)
    ended = session(store, "bob")
    sso(store, gone, "moodle", NOW + 1)
    sso(store, ended, "moodle", NOW + 1)
    store.destroy_sessions_for("bob")
    assert store.sessions_of("bob", NOW + 2) == []
    store.purge_expired(NOW + 10_000)
    fresh = session(store, at=NOW + 10_000)
    sso(store, fresh, "ent", NOW + 10_001)
    assert handles(store.search(SessionQuery(), NOW + 10_002)) == [ticket_digest(fresh.id)]
    assert store.search(SessionQuery(service_id="moodle"), NOW + 10_002) == []
    if isinstance(store, SqlTicketRegistry):
        from sqlalchemy import text

        with store.engine.connect() as conn:
            rows = conn.execute(text("SELECT tgt_id, service_id FROM session_services")).all()
        assert [tuple(r) for r in rows] == [(ticket_digest(fresh.id), "ent")]
