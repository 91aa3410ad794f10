"""The registration requests' store on SQLite and PostgreSQL (#16): a link used once
under a burst, two namesakes confirmed at the same instant get two logins, the
queue's decisions made once, the purge."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from cas_server.accounts.model import Profile
from cas_server.accounts.registration import Applicant, RegistrationStatus
from cas_server.storage.sql.db import make_engine
from cas_server.storage.sql.models import AccountRow
from cas_server.storage.sql.registration import AccountSpec, Outcome, SqlRegistrationStore

SPEC = AccountSpec(Profile.EXTERNAL, {"supannOrganisme": ("EXT",)}, "{given}.{family}")
NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, db_path: Path) -> Iterator[Engine]:
    if request.param == "postgresql":
        url = str(request.getfixturevalue("postgres_url"))
    else:
        url = f"sqlite:///{db_path}"
    built = make_engine(url)
    yield built
    built.dispose()


def add(store: SqlRegistrationStore, email: str, token: str, at: datetime = NOW) -> str:
    data = Applicant(email, "Jean", "Dupont", "FR", "company").data("$2b$04$hash", None)
    return store.add(email, data, token, at, 86400)


def accounts(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(AccountRow)).scalar_one())


def burst(work: Callable[[], Any], n: int = 8) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = []

    def go() -> None:
        barrier.wait()
        results.append(work())

    threads = [threading.Thread(target=go) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_a_burst_of_confirmations_of_one_link_makes_one_account(engine: Engine) -> None:
    store = SqlRegistrationStore(engine)
    add(store, "jean@example.net", "t" * 43)
    results = burst(lambda: store.confirm("t" * 43, NOW, SPEC, approval=False))
    created = [r for r in results if isinstance(r, Outcome)]
    assert len(created) == 1 and results.count(None) == 7
    assert created[0].kind == "created" and created[0].request.login == "jean.dupont"
    assert accounts(engine) == 1


def test_namesakes_confirmed_at_once_get_two_logins(engine: Engine) -> None:
    store = SqlRegistrationStore(engine)
    tokens = [f"{n}" * 43 for n in range(4)]
    for n, token in enumerate(tokens):
        add(store, f"jean{n}@example.net", token)
    lock = threading.Lock()
    queue = list(tokens)

    def next_token() -> Any:
        with lock:
            token = queue.pop()
        return store.confirm(token, NOW, SPEC, approval=False)

    results = burst(next_token, 4)
    logins = sorted(r.request.login for r in results)
    assert logins == ["jean.dupont", "jean.dupont2", "jean.dupont3", "jean.dupont4"]
    assert accounts(engine) == 4


def test_expired_link_and_purge(engine: Engine) -> None:
    store = SqlRegistrationStore(engine)
    add(store, "old@example.net", "o" * 43)
    later = NOW + timedelta(days=2)
    assert store.peek("o" * 43, later) is None
    assert store.confirm("o" * 43, later, SPEC, approval=False) is None
    add(store, "new@example.net", "n" * 43, at=later)
    assert store.purge(later) == 1
    assert store.peek("n" * 43, later) is not None


def test_the_queue_decides_once(engine: Engine) -> None:
    store = SqlRegistrationStore(engine)
    add(store, "jean@example.net", "q" * 43)
    waiting = store.confirm("q" * 43, NOW, SPEC, approval=True)
    assert waiting is not None and waiting.kind == "awaiting"
    assert accounts(engine) == 0
    listed, total = store.awaiting()
    assert total == 1 and listed[0].status is RegistrationStatus.AWAITING_APPROVAL
    results = burst(lambda: store.approve(waiting.request.id, "helper", NOW, SPEC), 4)
    assert len([r for r in results if r is not None]) == 1
    assert accounts(engine) == 1
    assert store.refuse(waiting.request.id, "helper", "too late", NOW) is None
    decided = store.get(waiting.request.id)
    assert decided is not None and decided.status is RegistrationStatus.APPROVED
    assert "password_hash" not in decided.data
