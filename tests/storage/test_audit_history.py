"""A person's history (#15): ``history_for`` on SQLite and PostgreSQL.

Their account's events and those filed under their login alone, never another
account's with the same login; only the history's actions; newest first; pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from cas_server.storage.sql.audit_queries import HISTORY_ACTIONS, history_for
from cas_server.storage.sql.db import make_engine
from cas_server.storage.sql.migrate import upgrade
from cas_server.storage.sql.models import AuditEventRow

MINE = "11111111-1111-4111-8111-111111111111"
OTHER = "22222222-2222-4222-8222-222222222222"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "postgresql":
        engine = make_engine(request.getfixturevalue("postgres_url"))
    else:
        engine = make_engine(f"sqlite:///{tmp_path / 'audit.sqlite3'}")
        upgrade(engine)
    yield engine
    engine.dispose()


def add(engine: Engine, *events: dict[str, Any]) -> None:
    with engine.begin() as conn:
        for event in events:
            row = {"outcome": "success", "account_uuid": None, "login": None, "actor": None}
            row.update({"ip": "10.0.0.1", "details": {}}, **event)
            conn.execute(insert(AuditEventRow).values(**row))


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def test_the_history_shows_only_the_persons_own_events(engine: Engine) -> None:
    add(
        engine,
        {
            "at": ago(1),
            "action": "login",
            "account_uuid": MINE,
            "login": "alice",
            "details": {"computer": "public"},
        },
        {"at": ago(2), "action": "login", "outcome": "invalid_credentials", "login": "alice"},
        {"at": ago(3), "action": "sesame_password_reset", "account_uuid": MINE, "login": "alice"},
        {"at": ago(4), "action": "mfa_verify", "outcome": "failure", "account_uuid": MINE},
        # another account that had the login "alice" before: not hers
        {"at": ago(5), "action": "login", "account_uuid": OTHER, "login": "alice"},
        # not history actions
        {"at": ago(6), "action": "admin_view", "account_uuid": MINE, "login": "alice"},
        {"at": ago(7), "action": "profile_data_export", "account_uuid": MINE, "login": "alice"},
        # too old
        {"at": ago(60 * 24 * 61), "action": "login", "account_uuid": MINE, "login": "alice"},
        # someone else's
        {"at": ago(8), "action": "login", "account_uuid": OTHER, "login": "bob"},
    )
    events, more = history_for(engine, MINE, "alice", NOW - timedelta(days=60), 1, 20)
    assert more is False
    assert [(e.action, e.outcome) for e in events] == [
        ("login", "success"),
        ("login", "invalid_credentials"),
        ("sesame_password_reset", "success"),
        ("mfa_verify", "failure"),
    ]
    first = events[0]
    assert first.at == ago(1)
    assert first.ip == "10.0.0.1"
    assert first.details == {"computer": "public"}
    assert not hasattr(first, "actor")


def test_pages_are_newest_first_and_say_whether_more_follow(engine: Engine) -> None:
    add(
        engine,
        *(
            {
                "at": ago(n),
                "action": "login",
                # every third one under the login alone: the two ranges interleave
                "account_uuid": None if n % 3 == 0 else MINE,
                "login": "alice",
            }
            for n in range(1, 26)
        ),
    )
    since = NOW - timedelta(days=1)
    seen = []
    for page, expected_more in ((1, True), (2, True), (3, False)):
        events, more = history_for(engine, MINE, "alice", since, page, 10)
        assert more is expected_more
        seen += [e.at for e in events]
    assert seen == [ago(n) for n in range(1, 26)]
    assert history_for(engine, MINE, "alice", since, 4, 10) == ([], False)
    # Nonsense pages and sizes are brought back within bounds.
    assert len(history_for(engine, MINE, "alice", since, 0, 0)[0]) == 1
    assert len(history_for(engine, MINE, "alice", since, -5, 10_000)[0]) == 25


def test_the_actions_cover_the_issue(engine: Engine) -> None:
    for action in (
        "login",
        "login_lock",
        "sesame_password_reset",
        "profile_password",
        "mfa_enrol",
        "profile_mfa_remove",
        "profile_session_end_self",
        "profile_sessions_end_others",
        "admin_session_end",
        "admin_impersonation_start",
        "impersonation_ticket",
    ):
        assert action in HISTORY_ACTIONS
    assert "admin_view" not in HISTORY_ACTIONS
    assert len(set(HISTORY_ACTIONS)) == len(HISTORY_ACTIONS)
