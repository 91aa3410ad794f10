"""``LoginService.create_session`` (#15): the client, the surrogate, a shorter hard limit."""

from __future__ import annotations

from cas_server.protocol.cas.login import LoginService
from cas_server.protocol.cas.services import ServiceRegistry
from cas_server.protocol.cas.tickets import Principal, SessionClient, TicketLifetimes
from cas_server.storage.memory import MemoryTicketRegistry
from tests.support.fakes import FakeClock

NOW = 1_800_000_000.0
LIFETIMES = TicketLifetimes(tgt_idle=7200, tgt_hard=28800, tgt_long_term=1209600)


def service() -> tuple[LoginService, MemoryTicketRegistry]:
    store = MemoryTicketRegistry()
    return LoginService(ServiceRegistry([]), store, FakeClock(NOW), LIFETIMES), store


def test_the_client_and_the_surrogate_are_kept() -> None:
    login, store = service()
    client = SessionClient("10.0.0.1", "Firefox", "campus", True)
    tgt = login.create_session(Principal("alice"), client=client, surrogate="hd.martin")
    assert tgt.client == client
    assert tgt.authentication.surrogate == "hd.martin"
    assert tgt.authentication.principal.id == "alice"
    (record,) = store.sessions_of("alice", NOW)
    assert (record.client, record.surrogate) == (client, "hd.martin")


def test_without_them_nothing_changes() -> None:
    login, _ = service()
    tgt = login.create_session(Principal("alice"), idle_timeout=600)
    assert tgt.client is None and tgt.authentication.surrogate is None
    assert (tgt.expires_at, tgt.idle_timeout) == (NOW + 28800, 600)


def test_a_hard_timeout_shortens_the_session_never_lengthens_it() -> None:
    login, _ = service()
    short = login.create_session(Principal("alice"), hard_timeout=1800, idle_timeout=7200)
    assert (short.expires_at, short.idle_timeout) == (NOW + 1800, 1800)
    remembered = login.create_session(Principal("alice"), long_term=True, hard_timeout=1800)
    assert (remembered.expires_at, remembered.idle_timeout) == (NOW + 1800, 1800)
    capped = login.create_session(Principal("alice"), hard_timeout=10**9)
    assert capped.expires_at == NOW + 28800
