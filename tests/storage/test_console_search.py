"""Console search: what it finds, and that it stays fast on 100,000 accounts."""

from __future__ import annotations

import functools
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from cas_server.accounts.console import (
    AliasError,
    clean_query,
    mask_email,
    mask_mobile,
    may,
    parse_alias,
    search_key,
)
from cas_server.accounts.model import Profile
from cas_server.storage.sql.accounts import SqlAccountRepository
from cas_server.storage.sql.console import SqlConsoleStore, search_condition
from cas_server.storage.sql.db import make_engine
from cas_server.storage.sql.migrate import upgrade
from cas_server.storage.sql.models import AccountRow


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = make_engine(f"sqlite:///{tmp_path / 'search.sqlite3'}")
    upgrade(e)
    yield e
    e.dispose()


@pytest.fixture
def store(engine: Engine) -> SqlConsoleStore:
    repo = SqlAccountRepository(engine)
    people = [
        (
            "eloise.lefebvre",
            "Éloïse",
            "Lefèbvre",
            "22001234",
            "1234567890A",
            None,
            "eloise@example.net",
        ),
        ("yann.legoff", "Yann", "Le Goff-Durand", None, None, "P000042", "Yann.LeGoff@Example.org"),
        ("camille.martin", "Camille", "Martin", "22005678", None, None, None),
        ("martin.camus", "Martin", "Camus", None, None, None, None),
        ("zoe.oeuvray", "Zoé", "Œuvray", None, None, None, None),
    ]
    for login, given, family, number, ine, staff, mail in people:
        repo.create(
            login,
            profile=Profile.STUDENT,
            given_name=given,
            family_name=family,
            student_number=number,
            ine=ine,
            personnel_number=staff,
            personal_email=mail,
        )
    console = SqlConsoleStore(engine, repo)
    uuid_ = repo.find_by_login("camille.martin")
    assert uuid_ is not None
    console.set_alias(uuid_.uuid, "cmartin")
    return console


def logins(store: SqlConsoleStore, query: str) -> list[str]:
    return [a.login for a in store.search(query).items]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("elo", ["eloise.lefebvre"]),  # accents and case do not matter
        ("LEFE", ["eloise.lefebvre"]),
        ("legoff", ["yann.legoff"]),  # spaces and hyphens do not matter
        ("le goff", ["yann.legoff"]),
        ("oeuv", ["zoe.oeuvray"]),  # Œ is oe
        ("mart", ["martin.camus", "camille.martin"]),  # a given or a family name; by family name
        ("camille mar", ["camille.martin"]),  # given name then family name
        ("martin cam", ["martin.camus", "camille.martin"]),
        ("cmart", ["camille.martin"]),  # alias
        ("camille.m", ["camille.martin"]),  # login
        ("Yann.LeGoff@", ["yann.legoff"]),  # e-mail, as stored
        ("eloise@", ["eloise.lefebvre"]),
        ("2200", ["eloise.lefebvre", "camille.martin"]),  # student number
        ("1234567890a", ["eloise.lefebvre"]),  # INE, lowercase typed
        ("p0000", ["yann.legoff"]),  # personnel number
        ("%", []),  # LIKE wildcards are plain characters
        ("_", []),
        ("", []),
        ("\x00\x07", []),
    ],
)
def test_search_finds_by_the_first_letters(
    store: SqlConsoleStore, query: str, expected: list[str]
) -> None:
    assert logins(store, query) == expected


def test_pages(store: SqlConsoleStore) -> None:
    first = store.search("m", 1, 1)
    assert (first.total, first.pages, [a.login for a in first.items]) == (2, 2, ["martin.camus"])
    second = store.search("m", 2, 1)
    assert [a.login for a in second.items] == ["camille.martin"]
    assert store.search("m", 3, 1).items == []


def test_pure_rules() -> None:
    assert search_key("Le Goff-Dûrand") == "legoffdurand"
    assert search_key("Straße Æsir") == "strasseaesir"
    assert clean_query("  jean\x00  dupont\n ") == "jean dupont"
    assert mask_email("camille.martin@example.net") == "c***n@example.net"
    assert mask_email("jo@example.net") == "j***@example.net"
    assert mask_mobile("+33612345678") == "06 ** ** ** 78"
    assert mask_mobile("06 12 34 56 78") == "06 ** ** ** 78"
    assert mask_mobile("+4915112345678") == "+491********78"
    assert parse_alias("  Camille.Martin ") == "camille.martin"
    for bad in ("", "a b", "-x", "é" * 3, "x" * 129):
        with pytest.raises(AliasError):
            parse_alias(bad)
    assert may(frozenset({"admin"}), "import") and may(frozenset({"admin"}), "roles")
    assert may(frozenset({"helpdesk"}), "lock") and not may(frozenset({"helpdesk"}), "import")
    assert not may(frozenset({"helpdesk"}), "roles") and not may(frozenset(), "lock")


FAMILY = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"]
FAMILY += ["Leroy", "Moreau", "Simon", "Laurent", "Lefèbvre", "Michel", "García", "Le Goff"]
GIVEN = ["Camille", "Léa", "Hugo", "Chloé", "Lucas", "Emma", "Noé", "Zoé", "Éloïse", "Jules"]


def fill(engine: Engine, n: int) -> None:
    """n accounts in one executemany (the raw driver: a few seconds would go to SQLAlchemy)."""
    rnd = random.Random(5)
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    rows = []
    key = functools.cache(search_key)
    for i in range(n):
        family = rnd.choice(FAMILY) + (str(rnd.randint(0, 999)) if i % 3 else "")
        given = rnd.choice(GIVEN)
        rows.append(
            (
                str(uuid.UUID(int=rnd.getrandbits(128))),
                f"u{i:06d}",
                given,
                family,
                key(given),
                key(family),
                f"2{i:07d}",
                f"{i:010d}A",
                f"user{i}@example.net",
                now,
                now,
            )
        )
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO accounts (uuid, login, source, profile, status, given_name, family_name,"
            " search_given, search_family, student_number, ine, personal_email,"
            " must_change_password, attributes, created_at, modified_at)"
            " VALUES (?, ?, 'csv', 'student', 'active', ?, ?, ?, ?, ?, ?, ?, 0, '{}', ?, ?)",
            rows,
        )


def test_search_is_fast_on_100000_accounts(engine: Engine) -> None:
    fill(engine, 100_000)
    store = SqlConsoleStore(engine, SqlAccountRepository(engine))
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(AccountRow)) == 100_000
        sql = select(AccountRow.uuid).where(search_condition("dur"))
        compiled = str(sql.compile(engine, compile_kwargs={"literal_binds": True}))
        plan = " | ".join(r[3] for r in conn.execute(text("EXPLAIN QUERY PLAN " + compiled)))
    assert "SCAN accounts" not in plan and "MULTI-INDEX OR" in plan, plan  # index range scans only
    timings = {}
    for query in ("dur", "durand12", "camille dur", "u0123", "2000123", "user99", "zz", "é", "lé"):
        runs = []
        for _ in range(3):  # the best of three: the machine may be busy with other work
            start = time.perf_counter()
            result = store.search(query, 1, 25)
            runs.append((time.perf_counter() - start) * 1000)
            assert result.total == 0 or result.items
        timings[query] = min(runs)
    print("search on 100,000 accounts (ms):", {q: round(t, 1) for q, t in timings.items()})
    assert store.search("durand12", 1, 25).total > 0
    # One query (count + page) stays well under the time of a page view, even for
    # one letter matching a quarter of the table.
    assert max(timings.values()) < 500, timings
    assert sorted(timings.values())[len(timings) // 2] < 80, timings
