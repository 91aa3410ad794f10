"""Accounts, password history, charters, shadow accounts and the audit trail: the same
promises on SQLite and PostgreSQL (a real server from ``tests/support/servers.py``).

Redis holds tickets and counters only; accounts always live in SQL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from cas_server.accounts.directory import DirectoryPerson, ShadowConflict
from cas_server.accounts.model import Profile, Source, Status
from cas_server.observability.audit import AuditTrail
from cas_server.storage.sql.accounts import AccountExists, SqlAccountRepository
from cas_server.storage.sql.db import make_engine
from cas_server.storage.sql.migrate import upgrade
from cas_server.storage.sql.models import AuditEventRow
from cas_server.storage.sql.shadow_accounts import SqlShadowAccounts


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "postgresql":
        engine = make_engine(request.getfixturevalue("postgres_url"))
    else:
        engine = make_engine(f"sqlite:///{tmp_path / 'accounts.sqlite3'}")
        upgrade(engine)
    yield engine
    engine.dispose()


def test_accounts_round_trip_and_logins_are_unique(engine: Engine) -> None:
    accounts = SqlAccountRepository(engine)
    created = accounts.create(
        "Élodie.Martin",
        profile=Profile.TEACHER,
        password_hash="h1",
        given_name="Élodie",
        birth_date=date(1990, 5, 17),
        attributes={"memberOf": ["maths", "info"]},
        roles=["helpdesk"],
    )
    found = accounts.find_by_login("ÉLODIE.MARTIN ")
    assert found is not None and found.uuid == created.uuid
    assert found.login == "élodie.martin" and found.birth_date == date(1990, 5, 17)
    assert found.attributes["memberOf"] == ("maths", "info") and found.roles == {"helpdesk"}
    assert found.created_at is not None and found.created_at.tzinfo is UTC
    with pytest.raises(AccountExists):
        accounts.create("élodie.martin", profile=Profile.STUDENT)


def test_password_history_is_newest_first_and_charters_keep_versions(engine: Engine) -> None:
    accounts = SqlAccountRepository(engine)
    account = accounts.create("alice", profile=Profile.STUDENT, password_hash="h1")
    start = datetime.now(UTC)
    for n in (2, 3):
        accounts.store_password(account.uuid, f"h{n}", now=start + timedelta(days=n))
    assert accounts.password_history(account.uuid, 2) == ["h3", "h2"]
    accounts.accept_charter(account.uuid, "it", "2025")
    accounts.accept_charter(account.uuid, "it", "2026")
    assert accounts.accepted_charter_version(account.uuid, "it") == "2026"


def test_shadow_accounts_follow_the_directory_and_never_take_a_local_login(
    engine: Engine,
) -> None:
    accounts = SqlAccountRepository(engine)
    shadows = SqlShadowAccounts(engine, accounts)
    person = DirectoryPerson(
        dn="uid=bob,ou=people,dc=example,dc=org",
        login="Bob",
        profile=Profile.STAFF,
        given_name="Bob",
        fields={"personnel_number": "E42"},
        attributes={"mail": ("bob@example.org",)},
    )
    first = shadows.sync(person, must_change=False)
    assert (first.login, first.source, first.status) == ("bob", Source.LDAP, Status.ACTIVE)
    assert first.personnel_number == "E42"
    moved = DirectoryPerson(**{**person.__dict__, "profile": Profile.TEACHER})
    again = shadows.sync(moved, must_change=True)
    assert again.uuid == first.uuid and again.profile is Profile.TEACHER
    assert again.must_change_password
    # Someone else's personnel number is not copied, the sign-in still works.
    accounts.create("carol", profile=Profile.STAFF)
    other = DirectoryPerson(
        dn="uid=dan", login="dan", profile=Profile.STAFF, fields={"personnel_number": "E42"}
    )
    assert shadows.sync(other, must_change=False).personnel_number is None
    with pytest.raises(ShadowConflict):
        shadows.sync(
            DirectoryPerson(dn="uid=carol", login="carol", profile=Profile.STAFF), must_change=False
        )


def test_concurrent_first_sign_ins_make_one_shadow_account(engine: Engine) -> None:
    shadows = SqlShadowAccounts(engine, SqlAccountRepository(engine))
    person = DirectoryPerson(dn="uid=eve", login="eve", profile=Profile.STUDENT)
    barrier = threading.Barrier(4)
    uuids: list[str] = []

    def sign_in() -> None:
        barrier.wait(timeout=10)
        uuids.append(shadows.sync(person, must_change=False).uuid)

    threads = [threading.Thread(target=sign_in) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(uuids) == 4 and len(set(uuids)) == 1


def test_audit_events_are_written_with_their_details(engine: Engine) -> None:
    AuditTrail(engine).record(
        "login", "success", login="alice", ip="203.0.113.7", details={"computer": "public"}
    )
    with engine.connect() as conn:
        row = conn.execute(select(AuditEventRow)).one()
    assert (row.action, row.outcome, row.login, row.ip) == (
        "login",
        "success",
        "alice",
        "203.0.113.7",
    )
    assert row.details == {"computer": "public"}
