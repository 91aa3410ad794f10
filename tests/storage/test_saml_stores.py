"""The SAML stores on SQLite and PostgreSQL (cas_server.storage.sql.saml, migration 0010):
participants per session for single logout, consents per account and SP (upsert, revoke,
gone with the account), a database that is down raises StoreUnavailable."""

from __future__ import annotations

import threading
import uuid as uuidlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from cas_server.protocol.cas.ports import StoreUnavailable
from cas_server.protocol.saml2.consent import consent_digest
from cas_server.protocol.saml2.ports import (
    Consent,
    ConsentStore,
    SamlParticipant,
    SamlSessionStore,
)
from cas_server.storage.sql.db import make_engine
from cas_server.storage.sql.migrate import upgrade
from cas_server.storage.sql.models import AccountRow, Base
from cas_server.storage.sql.saml import SqlConsentStore, SqlSamlSessionStore

NOW = 1_800_000_000.0
SP1 = "https://sp1.example.org/shibboleth"
SP2 = "https://sp2.example.org/shibboleth"
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
SAML_TABLES = {"saml_participants", "saml_consents"}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, db_path: Path) -> Iterator[Engine]:
    if request.param == "postgresql":
        url = str(request.getfixturevalue("postgres_url"))
    else:
        url = f"sqlite:///{db_path}"
    built = make_engine(url)
    yield built
    built.dispose()


def account(engine: Engine, login: str = "alice") -> str:
    uuid = str(uuidlib.uuid4())
    now = datetime.now(UTC)
    with Session(engine) as session:
        session.add(
            AccountRow(
                uuid=uuid,
                login=login,
                profile="student",
                status="active",
                attributes={},
                created_at=now,
                modified_at=now,
            )
        )
        session.commit()
    return uuid


def participant(
    handle: str = "h" * 64, sp: str = SP1, at: float = NOW, **kw: str
) -> SamlParticipant:
    values = {"name_id": "nid-" + sp[-20:], "session_index": "si-1"}
    values.update(kw)
    return SamlParticipant(handle, sp, values["name_id"], TRANSIENT, values["session_index"], at)


def test_the_sql_stores_implement_the_ports(engine: Engine) -> None:
    sessions: SamlSessionStore = SqlSamlSessionStore(engine)
    consents: ConsentStore = SqlConsentStore(engine)
    assert sessions.participants("none") == [] and consents.list_for("none") == []


def test_participants_of_a_session_oldest_first_and_only_that_session(engine: Engine) -> None:
    store = SqlSamlSessionStore(engine)
    other = "o" * 64
    store.record(participant(sp=SP2, at=NOW + 5), NOW + 3600)
    store.record(participant(sp=SP1, at=NOW), NOW + 3600)
    store.record(participant(handle=other), NOW + 3600)
    got = store.participants("h" * 64)
    assert [p.sp_entity_id for p in got] == [SP1, SP2]
    assert got[0] == participant(sp=SP1, at=NOW)
    assert [p.session_handle for p in store.participants(other)] == [other]
    assert store.participants("H" * 64) == []


def test_the_same_participant_recorded_twice_is_told_once(engine: Engine) -> None:
    store = SqlSamlSessionStore(engine)
    store.record(participant(), NOW + 3600)
    store.record(participant(at=NOW + 10), NOW + 3600)
    store.record(participant(session_index="si-2", at=NOW + 20), NOW + 3600)  # another
    assert [p.session_index for p in store.participants("h" * 64)] == ["si-1", "si-2"]


def test_forget_removes_one_session_and_purge_the_expired(engine: Engine) -> None:
    store = SqlSamlSessionStore(engine)
    store.record(participant(), NOW + 100)
    store.record(participant(sp=SP2), NOW + 100)
    store.record(participant(handle="o" * 64), NOW + 10)
    store.record(participant(handle="p" * 64), NOW + 1000)
    assert store.forget("h" * 64) == 2
    assert store.forget("h" * 64) == 0
    assert store.purge(NOW + 10) == 1
    assert store.participants("o" * 64) == []
    assert len(store.participants("p" * 64)) == 1


def test_odd_values_round_trip_and_oversized_ones_are_refused(engine: Engine) -> None:
    store = SqlSamlSessionStore(engine)
    odd = "https://sp.example/é?x='1';--\"" + "a" * 900
    store.record(participant(sp=odd, name_id="é'\";" * 10), NOW + 100)
    assert store.participants("h" * 64)[0].sp_entity_id == odd
    with pytest.raises(ValueError):
        store.record(participant(sp="https://x/" + "a" * 2000), NOW + 100)


def test_consent_upsert_get_list_revoke(engine: Engine) -> None:
    store = SqlConsentStore(engine)
    alice, bob = account(engine, "alice"), account(engine, "bob")
    first = Consent(SP1, consent_digest(SP1, ["mail"]), ("mail",), NOW)
    store.remember(alice, first)
    assert store.get(alice, SP1) == first
    assert store.get(bob, SP1) is None
    assert store.get(alice, SP1 + "/") is None  # a look-alike SP has no consent
    second = Consent(SP1, consent_digest(SP1, ["mail", "sn"]), ("mail", "sn"), NOW + 60)
    store.remember(alice, second)  # replaces
    assert store.get(alice, SP1) == second
    store.remember(alice, Consent(SP2, "d" * 64, (), NOW + 120))
    assert [c.sp_entity_id for c in store.list_for(alice)] == [SP2, SP1]  # newest first
    assert store.list_for(bob) == []
    assert store.revoke(bob, SP1) is False  # not bob's to revoke
    assert store.revoke(alice, SP1) is True
    assert store.revoke(alice, SP1) is False
    assert [c.sp_entity_id for c in store.list_for(alice)] == [SP2]


def test_consents_go_with_the_account(engine: Engine) -> None:
    store = SqlConsentStore(engine)
    alice = account(engine)
    store.remember(alice, Consent(SP1, "d" * 64, ("mail",), NOW))
    with Session(engine) as session:
        session.execute(delete(AccountRow).where(AccountRow.uuid == alice))
        session.commit()
    assert store.get(alice, SP1) is None


def test_concurrent_remembers_of_one_consent_leave_one_row(engine: Engine) -> None:
    store = SqlConsentStore(engine)
    alice = account(engine)
    barrier = threading.Barrier(6)
    failures: list[BaseException] = []

    def go(n: int) -> None:
        barrier.wait()
        try:
            store.remember(alice, Consent(SP1, f"{n}" * 64, ("mail",), NOW + n))
        except BaseException as exc:  # pragma: no cover - the assertion shows it
            failures.append(exc)

    threads = [threading.Thread(target=go, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert len(store.list_for(alice)) == 1


def test_a_database_that_is_down_raises_store_unavailable(tmp_path: Path) -> None:
    # A port nothing listens on: every call fails to connect.
    dead = make_engine("postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=1")
    sessions, consents = SqlSamlSessionStore(dead), SqlConsentStore(dead)
    for call in (
        lambda: sessions.participants("h"),
        lambda: sessions.record(participant(), NOW),
        lambda: sessions.forget("h"),
        lambda: sessions.purge(NOW),
        lambda: consents.get("u", SP1),
        lambda: consents.remember("u", Consent(SP1, "d", (), NOW)),
        lambda: consents.revoke("u", SP1),
        lambda: consents.list_for("u"),
    ):
        with pytest.raises(StoreUnavailable):
            call()
    dead.dispose()
    # SQLite whose file's folder is gone.
    folder = tmp_path / "gone"
    folder.mkdir()
    lost = make_engine(f"sqlite:///{folder / 'db.sqlite3'}")
    folder.rmdir()
    with pytest.raises(StoreUnavailable):
        SqlSamlSessionStore(lost).participants("h")
    lost.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_empty_url"))
    return f"sqlite:///{tmp_path / 'fresh.sqlite3'}"


def test_migration_0010_creates_exactly_the_modelled_saml_tables(fresh_url: str) -> None:
    engine = make_engine(fresh_url)
    upgrade(engine, "0009")
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    ours = [d for d in diff if any(t in repr(d) for t in SAML_TABLES)]
    assert ours == []
    engine.dispose()
