"""CSV import: reading school exports (pure) and applying them in one transaction.

Every bad file gets a reason, never an exception other than CsvFileError;
re-importing changes nothing; a failing real run leaves the database as it was.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cas_server.accounts.csv_import import CsvFileError, Plan, parse_csv, parse_date
from cas_server.accounts.model import Profile
from cas_server.storage.sql.db import make_engine
from cas_server.storage.sql.importer import apply_plan
from cas_server.storage.sql.migrate import upgrade
from cas_server.storage.sql.models import AccountRow

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024
LIMIT = 10 * 1024 * 1024

GOOD = (
    "nom;prénom;date de naissance;profil;numéro étudiant;INE;courriel;classe\n"
    "Martin;Camille;14/03/2005;élève;22001234;1234567890A;camille@example.net;3B\n"
    "Dupont;Jean;2006-01-02;eleve;22001235;;;3B\n"
    "Benali;Nadia;;parent;;;nadia@example.net;\n"
)


def plan_of(text: str, encoding: str = "utf-8") -> Plan:
    return parse_csv(text.encode(encoding), LIMIT)


# Reading ------------------------------------------------------------------------------


def test_french_columns_semicolons_and_values() -> None:
    plan = plan_of(GOOD)
    assert plan.delimiter == ";" and plan.encoding == "utf-8" and not plan.rejected
    first = plan.rows[0].values
    assert first["family_name"] == "Martin" and first["given_name"] == "Camille"
    assert first["birth_date"] == date(2005, 3, 14)
    assert first["profile"] is Profile.STUDENT
    assert first["student_number"] == "22001234" and first["structure"] == "3B"
    assert plan.rows[1].values["birth_date"] == date(2006, 1, 2)
    assert plan.rows[2].values["profile"] is Profile.PARENT
    assert [r.line for r in plan.rows] == [2, 3, 4]


def test_english_columns_and_commas() -> None:
    plan = plan_of(
        "login,given_name,family_name,birth_date,profile,email\n"
        "jdoe,John,Doe,01/02/2000,teacher,john@example.org\n"
    )
    assert plan.delimiter == "," and plan.rows[0].values["login"] == "jdoe"
    assert plan.rows[0].values["profile"] is Profile.TEACHER


def test_tabs_are_understood() -> None:
    plan = plan_of("nom\tprenom\tprofil\nMartin\tCamille\televe\n")
    assert plan.delimiter == "\t" and len(plan.rows) == 1


def test_utf8_bom() -> None:
    plan = parse_csv(codecs.BOM_UTF8 + GOOD.encode(), LIMIT)
    assert plan.encoding == "utf-8-sig" and plan.columns[0] == "family_name"
    assert len(plan.rows) == 3


def test_windows_1252_from_a_spreadsheet_keeps_the_accents() -> None:
    text = "Nom;Prénom;Profil;Classe\r\nLefèbvre;Éloïse;Élève;5ème A\r\nŒuvray;Zoé;élève;\r\n"
    plan = parse_csv(text.encode("cp1252"), LIMIT)
    assert plan.encoding == "windows-1252" and not plan.rejected
    assert plan.rows[0].values["given_name"] == "Éloïse"
    assert plan.rows[0].values["family_name"] == "Lefèbvre"
    assert plan.rows[0].values["structure"] == "5ème A"
    assert plan.rows[1].values["family_name"] == "Œuvray"


def test_utf16_with_bom() -> None:
    plan = parse_csv(codecs.BOM_UTF16_LE + GOOD.encode("utf-16-le"), LIMIT)
    assert plan.encoding == "utf-16" and len(plan.rows) == 3


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 20, "binary"),
        (b"nom;prenom;profil\nMartin;Camille;\x81\x8d\x8f\n", "encoding"),
        (b"just one column\nand another line\n", "separator"),
        (b"login;email;telephone\nx;y@z.fr;0612345678\n", "Missing columns"),
        (b"nom;prenom;profil;nom\nA;B;eleve;C\n", "twice"),
        (b'nom;prenom;profil\n"Martin;Camille;eleve\n', None),
    ],
)
def test_bad_files_are_refused_with_a_reason(data: bytes, says: str | None) -> None:
    if says is None:  # an unclosed quote: one bad line, not a crash
        try:
            plan = parse_csv(data, LIMIT)
        except CsvFileError:
            return
        assert plan.rejected or not plan.rows
        return
    with pytest.raises(CsvFileError) as caught:
        parse_csv(data, LIMIT)
    assert says in str(caught.value)


def test_a_50_mb_file_is_refused_before_reading() -> None:
    data = b"nom;prenom;profil\n" + b"Martin;Camille;eleve\n" * (50 * MB // 21)
    assert len(data) > 50 * MB
    with pytest.raises(CsvFileError) as caught:
        parse_csv(data, LIMIT)
    assert "too large" in str(caught.value) and "50.0 MB" in str(caught.value)
    assert caught.value.message == "The file is too large (%(size)s MB; at most %(max)s MB)."


def test_bad_lines_are_rejected_with_their_line_and_reason() -> None:
    plan = plan_of(
        "identifiant;nom;prenom;date_naissance;profil;courriel;numero_etudiant\n"
        "a.martin;Martin;Anna;31/02/2009;eleve;;1\n"  # 2: no such date
        "b.martin;Martin;Bob;14/03/2005;martien;;2\n"  # 3: profile
        "c.martin;Martin;Chloé;14/03/2005;eleve;not-an-address;3\n"  # 4: e-mail
        "d.martin;;Dan;14/03/2005;eleve;;4\n"  # 5: family name empty
        "e.martin;Martin;Emma;14/03/2005;eleve;;5\n"  # 6: fine
        "e.martin;Martin;Emma;14/03/2005;eleve;;6\n"  # 7: duplicate login
        "f.martin;Martin;Fanny;14/03/2005;eleve;;5\n"  # 8: duplicate student number
        "g.martin;Martin;Gus\n"  # 9: columns missing
        "Bad Login!;Martin;Hugo;;eleve;;9\n"  # 10: login shape
        "i.martin;Martin;Iris;12/12/1850;eleve;;10\n"  # 11: implausible date
    )
    reasons = {r.line: (r.reason, dict(r.params)) for r in plan.rejected}
    assert [r.line for r in plan.rows] == [6]
    assert reasons[2][0].startswith("Invalid birth date") and reasons[2][1]["value"] == "31/02/2009"
    assert reasons[3][0].startswith("Unknown profile")
    assert reasons[4][0].startswith("Invalid e-mail")
    assert reasons[5] == ("The column %(column)s is empty.", {"column": "family_name"})
    assert reasons[7][0].startswith("Duplicate") and reasons[7][1]["other"] == 6
    assert reasons[8][1]["column"] == "student_number"
    assert reasons[9][0].startswith("Expected")
    assert reasons[10][0].startswith("Invalid login")
    assert reasons[11][0].startswith("Invalid birth date")


def test_dates() -> None:
    assert parse_date("14/03/2005") == date(2005, 3, 14)
    assert parse_date("2005-03-14") == date(2005, 3, 14)
    assert parse_date("14.03.2005") == date(2005, 3, 14)
    assert parse_date("3/14/2005") is None  # no 14th month
    assert parse_date("yesterday") is None


def test_the_example_file_of_the_documentation_is_clean() -> None:
    plan = parse_csv((ROOT / "docs" / "examples" / "accounts.csv").read_bytes(), LIMIT)
    assert not plan.rejected and len(plan.rows) >= 5


# Applying -------------------------------------------------------------------------------


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = make_engine(f"sqlite:///{tmp_path / 'import.sqlite3'}")
    upgrade(e)
    yield e
    e.dispose()


def accounts(engine: Engine) -> dict[str, tuple[object, ...]]:
    with Session(engine) as s:
        return {
            r.login: (
                r.given_name,
                r.family_name,
                r.birth_date,
                r.student_number,
                r.personal_email,
                r.attributes,
                r.modified_at,
                r.search_family,
            )
            for r in s.scalars(select(AccountRow))
        }


def test_dry_run_then_real_run_then_reimport_changes_nothing(engine: Engine) -> None:
    dry = apply_plan(engine, plan_of(GOOD), dry_run=True, actor="test")
    assert dry.counts == {"created": 3, "updated": 0, "unchanged": 0, "rejected": 0}
    assert accounts(engine) == {}

    real = apply_plan(engine, plan_of(GOOD), dry_run=False, actor="test")
    assert real.counts == dry.counts
    assert [login for _, login in real.created] == [
        "camille.martin",
        "jean.dupont",
        "nadia.benali",
    ]
    before = accounts(engine)
    assert before["camille.martin"][5] == {"structure": ["3B"]}
    assert before["camille.martin"][7] == "martin"  # the search key is kept up to date

    again = apply_plan(engine, plan_of(GOOD), dry_run=False, actor="test")
    assert again.counts == {"created": 0, "updated": 0, "unchanged": 3, "rejected": 0}
    assert accounts(engine) == before


def test_updates_say_what_changed_and_keep_a_verified_address(engine: Engine) -> None:
    apply_plan(engine, plan_of(GOOD), dry_run=False, actor="test")
    with engine.begin() as conn:
        conn.execute(
            update(AccountRow)
            .where(AccountRow.login == "camille.martin")
            .values(personal_email="mine@example.org", personal_email_verified_at=datetime.now(UTC))
        )
    changed = GOOD.replace("Camille;14/03/2005", "Camille;15/03/2005").replace(
        ";3B\nDupont", ";4A\nDupont"
    )
    changed = changed.replace("Martin;", "Martin-Durand;", 1)
    report = apply_plan(engine, plan_of(changed), dry_run=False, actor="test")
    assert report.counts["updated"] == 1 and report.counts["unchanged"] == 2
    line, login, fields = report.updated[0]
    assert (line, login) == (2, "camille.martin")
    assert set(fields) == {"family_name", "birth_date", "structure"}
    row = accounts(engine)["camille.martin"]
    assert row[4] == "mine@example.org"  # the owner's verified address wins
    assert row[7] == "martindurand"


def test_conflicts_with_the_database_are_rejected(engine: Engine) -> None:
    apply_plan(engine, plan_of(GOOD), dry_run=False, actor="test")
    clash = (
        "identifiant;nom;prenom;profil;numero_etudiant\n"
        "someone.else;Other;Person;eleve;22001234\n"  # Camille's number
        ";Martin;Camille;eleve;\n"  # same names: a new login is made
    )
    report = apply_plan(engine, plan_of(clash), dry_run=False, actor="test")
    assert report.rejected[0].line == 2
    assert report.rejected[0].params["login"] == "camille.martin"
    assert [login for _, login in report.created] == ["camille.martin2"]


def test_a_failing_real_run_leaves_the_database_as_it_was(engine: Engine) -> None:
    apply_plan(engine, plan_of(GOOD), dry_run=False, actor="test")
    before = accounts(engine)
    more = GOOD + "Petit;Lou;2007-05-05;eleve;22009999;;;4C\nGrand;Léo;;eleve;;;;4C\n"
    calls = {"n": 0}

    def fail_on_second_insert(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.startswith("INSERT INTO accounts"):
            calls["n"] += 1
            if calls["n"] == 2:  # a unique conflict the checks did not see (a race)
                raise IntegrityError(statement, {}, Exception("UNIQUE constraint failed"))

    event.listen(engine, "before_cursor_execute", fail_on_second_insert)
    try:
        with pytest.raises(IntegrityError):
            apply_plan(engine, plan_of(more), dry_run=False, actor="test")
    finally:
        event.remove(engine, "before_cursor_execute", fail_on_second_insert)
    assert calls["n"] == 2
    assert accounts(engine) == before
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(AccountRow)) == 3


def test_a_person_twice_in_one_file_is_rejected_the_second_time(engine: Engine) -> None:
    twice = "nom;prenom;profil\nBenali;Nadia;parent\nBenali;Nadia;parent\n"
    report = apply_plan(engine, plan_of(twice), dry_run=False, actor="test")
    assert report.counts == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 1}
    assert report.rejected[0].line == 3 and report.rejected[0].params == {"other": 2}
