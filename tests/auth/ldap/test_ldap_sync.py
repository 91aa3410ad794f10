"""``cas-server ldap sync``: shadow accounts for every directory person, against real slapd.

The directory is shared by the module's tests (one slapd); each test undoes
its changes to it. The database is fresh for each test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from ldap3 import MODIFY_REPLACE, Connection, Server
from sqlalchemy import select
from sqlalchemy.orm import Session

from cas_server import create_app
from cas_server.accounts.model import Source, Status
from cas_server.auth import Success
from cas_server.auth.ldap.source import LdapUserSource
from cas_server.auth.ldap.sync import sync_directory
from cas_server.storage.sql.models import AccountRow, AuditEventRow
from cas_server.storage.sql.shadow_accounts import SqlShadowAccounts
from tests.auth.ldap.conftest import PEOPLE, ldap_settings
from tests.support.app import make_account, test_overrides
from tests.support.cli import cli_runner
from tests.support.ports import free_port
from tests.support.servers import LDAP_ADMIN, LDAP_ADMIN_PASSWORD, LdapServer
from tests.support.sesame import SesameBrowser

# Every person of tests/data/ldap-people.ldif, and the one added here.
PEOPLE_LOGINS = {"alice", "bob", "carol", "dave", "erin", "frank", "gina", "henri", "ivan"}
NEWCOMER = "zoe"  # a student who never signed in, with a birth date


@pytest.fixture
def app_overrides(ldap_server: LdapServer) -> dict[str, dict[str, Any]]:
    settings = ldap_settings(ldap_server.url)
    settings["account"] = {**settings["account"], "birth_date": "description"}
    return {
        "auth": {"sources": ["local", "ldap"]},
        "ldap": settings,
        # Without the channel proof, the start page says at once whether a person matched.
        "sesame": {"activation_proof": False},
    }


@pytest.fixture
def directory(ldap_server: LdapServer) -> Iterator[Connection]:
    """The directory as its root DN, with Zoé added for the test and removed after."""
    conn = Connection(Server(ldap_server.url), LDAP_ADMIN, LDAP_ADMIN_PASSWORD, auto_bind=True)
    dn = f"uid={NEWCOMER},{PEOPLE}"
    assert conn.add(
        dn,
        ["inetOrgPerson", "casStudent"],
        {
            "uid": NEWCOMER,
            "cn": "Zoé Nouvelle",
            "givenName": "Zoé",
            "sn": "Nouvelle",
            "mail": "zoe@example.org",
            "employeeType": "student",
            "studentNumber": "20249999",
            "description": "2006-03-14",
        },
    ), conn.result
    yield conn
    conn.delete(dn)
    conn.unbind()


def sync(runner: Any, *args: str) -> Any:
    return runner.invoke(args=["ldap", "sync", *args])


def shadow_rows(app: Flask) -> dict[str, AccountRow]:
    with Session(app.extensions["cas"].engine) as session:
        rows = session.scalars(select(AccountRow).where(AccountRow.source == "ldap")).all()
        for row in rows:
            session.expunge(row)
    return {row.login: row for row in rows}


def test_every_person_gets_a_not_activated_shadow_account(
    app: Flask, runner: Any, directory: Connection
) -> None:
    result = sync(runner)
    assert result.exit_code == 0, result.output
    assert "created: 10" in result.output and "unchanged: 0" in result.output
    rows = shadow_rows(app)
    assert set(rows) == PEOPLE_LOGINS | {NEWCOMER}
    zoe = rows[NEWCOMER]
    # What a sign-in would have written, but not activated: Sésame sets the first password.
    assert zoe.status == Status.NOT_ACTIVATED.value and zoe.password_hash is None
    assert (zoe.given_name, zoe.family_name, zoe.profile) == ("Zoé", "Nouvelle", "student")
    assert zoe.student_number == "20249999" and zoe.birth_date == date(2006, 3, 14)
    assert zoe.external_id == f"uid={NEWCOMER},{PEOPLE}"
    assert zoe.attributes["mail"] == ["zoe@example.org"]
    assert rows["bob"].profile == "teacher" and rows["bob"].personnel_number == "20240002"


def test_a_second_run_changes_nothing_and_a_directory_change_is_copied(
    app: Flask, runner: Any, directory: Connection
) -> None:
    assert sync(runner).exit_code == 0
    before = shadow_rows(app)
    again = sync(runner)
    assert again.exit_code == 0, again.output
    assert "created: 0" in again.output and "refreshed: 0" in again.output
    assert "unchanged: 10" in again.output
    assert shadow_rows(app)[NEWCOMER].modified_at == before[NEWCOMER].modified_at

    dn = f"uid={NEWCOMER},{PEOPLE}"
    assert directory.modify(dn, {"sn": [(MODIFY_REPLACE, ["Ancienne"])]})
    changed = sync(runner)
    assert "refreshed: 1" in changed.output and "unchanged: 9" in changed.output
    zoe = shadow_rows(app)[NEWCOMER]
    assert zoe.family_name == "Ancienne" and zoe.status == Status.NOT_ACTIVATED.value


def test_statuses_and_flags_set_here_are_kept(
    app: Flask, runner: Any, directory: Connection
) -> None:
    c = app.extensions["cas"]
    # Bob signed in before the first sync; Carol was disabled in the console.
    assert isinstance(c.user_source.authenticate("bob", "bobpass"), Success)
    assert sync(runner).exit_code == 0
    with Session(c.engine) as session, session.begin():
        carol = session.scalars(select(AccountRow).where(AccountRow.login == "carol")).one()
        carol.status = Status.DISABLED.value
        carol.must_change_password = True
    assert "unchanged: 10" in sync(runner).output
    rows = shadow_rows(app)
    assert rows["bob"].status == Status.ACTIVE.value
    assert rows["carol"].status == Status.DISABLED.value and rows["carol"].must_change_password
    # A synced person's first directory sign-in makes the shadow active.
    assert isinstance(c.user_source.authenticate("alice", "alicepass"), Success)
    assert shadow_rows(app)["alice"].status == Status.ACTIVE.value


def test_a_local_account_with_the_same_login_is_left_alone(
    app: Flask, runner: Any, directory: Connection
) -> None:
    local = make_account(app, "carol", given_name="Carole", family_name="Locale")
    result = sync(runner)
    assert result.exit_code == 0, result.output
    assert "conflicts (login of a local account, left alone): 1" in result.output
    assert "conflict: carol" in result.output and "created: 9" in result.output
    carol = app.extensions["cas"].accounts.find_by_login("carol")
    assert carol is not None and carol.uuid == local.uuid
    assert carol.source is Source.LOCAL and carol.family_name == "Locale"


def test_a_person_gone_from_the_directory_is_reported_then_disabled_on_request(
    app: Flask, runner: Any, directory: Connection
) -> None:
    assert sync(runner).exit_code == 0
    directory.delete(f"uid={NEWCOMER},{PEOPLE}")
    listed = sync(runner)
    assert listed.exit_code == 0, listed.output
    assert "gone from the directory: 1" in listed.output and f"gone: {NEWCOMER}" in listed.output
    assert shadow_rows(app)[NEWCOMER].status == Status.NOT_ACTIVATED.value  # kept as it was

    disabled = sync(runner, "--disable-gone")
    assert disabled.exit_code == 0, disabled.output
    assert "disabled: 1" in disabled.output
    assert shadow_rows(app)[NEWCOMER].status == Status.DISABLED.value
    with Session(app.extensions["cas"].engine) as session:
        events = session.scalars(
            select(AuditEventRow).where(AuditEventRow.action == "ldap_sync_disable")
        ).all()
    assert [(e.login, e.actor, e.outcome) for e in events] == [(NEWCOMER, "cli", "success")]
    # Disabled once: the next run lists it still, and disables nobody.
    assert "disabled:" not in sync(runner, "--disable-gone").output


def test_a_directory_that_returns_nobody_disables_nobody(
    app: Flask, runner: Any, db_path: Path, ldap_server: LdapServer, directory: Connection
) -> None:
    assert sync(runner).exit_code == 0
    # A base DN where nobody lives (the password policies): everybody would look gone.
    empty = ldap_settings(ldap_server.url, base_dn="ou=policies,dc=example,dc=org")
    other = create_app(
        overrides=test_overrides(db_path, auth={"sources": ["local", "ldap"]}, ldap=empty),
        environ={},
    )
    try:
        result = cli_runner(other).invoke(args=["ldap", "sync", "--disable-gone"])
    finally:
        other.extensions["cas"].single_logout.executor.shutdown(wait=True)
        other.extensions["cas"].engine.dispose()
    assert result.exit_code == 1
    assert "gone from the directory: 10" in result.output
    assert "Error: the directory returned nobody: 10 shadow account(s) not disabled" in (
        result.output
    )
    assert {row.status for row in shadow_rows(app).values()} == {Status.NOT_ACTIVATED.value}


def test_a_dry_run_changes_nothing_and_prints_the_same_report(
    app: Flask, runner: Any, directory: Connection
) -> None:
    dry = sync(runner, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.output.startswith("dry run, nothing changed")
    assert "created: 10" in dry.output
    assert shadow_rows(app) == {}
    real = sync(runner)
    assert real.output.splitlines()[1:] == dry.output.splitlines()[1:]

    directory.delete(f"uid={NEWCOMER},{PEOPLE}")
    dry_disable = sync(runner, "--dry-run", "--disable-gone")
    assert "gone: zoe" in dry_disable.output and "disabled: 1" in dry_disable.output
    assert shadow_rows(app)[NEWCOMER].status == Status.NOT_ACTIVATED.value


def test_an_unreachable_directory_exits_1_with_one_line(db_path: Path) -> None:
    dead = f"ldap://127.0.0.1:{free_port()}"
    app = create_app(
        overrides=test_overrides(
            db_path, auth={"sources": ["local", "ldap"]}, ldap=ldap_settings(dead)
        ),
        environ={},
    )
    try:
        result = cli_runner(app).invoke(args=["ldap", "sync"])
    finally:
        app.extensions["cas"].single_logout.executor.shutdown(wait=True)
        app.extensions["cas"].engine.dispose()
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: LDAP directory unreachable ({dead}), nothing synced")
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_paged_search_walks_the_directory_a_page_at_a_time(
    app: Flask, directory: Connection
) -> None:
    c = app.extensions["cas"]
    pool = c.infra.ldap
    source = LdapUserSource(pool, SqlShadowAccounts(c.engine, c.accounts))
    pages = list(pool.search_pages("(uid=*)", ["uid"], page_size=3))
    assert [len(p) for p in pages] == [3, 3, 3, 1]
    report = sync_directory(pool, source, SqlShadowAccounts(c.engine, c.accounts), page_size=2)
    assert len(report.created) == 10 and report.entries == 10


def test_a_synced_student_who_never_signed_in_can_activate_the_account(
    app: Flask, runner: Any, directory: Connection, ldap_server: LdapServer
) -> None:
    assert sync(runner).exit_code == 0
    browser = SesameBrowser(app.test_client())
    fields = {"kind": "student_number", "identifier": "20249999"}
    wrong = browser.submit("/sesame/activate", {**fields, "birth_date": "2006-03-15"})
    assert wrong.status_code == 400  # "no account to activate matches"
    right = browser.submit("/sesame/activate", {**fields, "birth_date": "2006-03-14"})
    assert right.status_code == 303, right.get_data(as_text=True)[:500]
    assert right.headers["Location"].endswith("/sesame/activate/account")
    # The activation form: the first password goes to the directory.
    password = "Nouvelle-premiere-Cle-2027!"
    form_html = browser.get("/sesame/activate/account").get_data(as_text=True)
    done = browser.post(
        "/sesame/activate/account",
        {
            "personal_email": "zoe.perso@example.net",
            "joker_question": "first_pet",
            "joker_answer": "Médor",
            "new_password": password,
            "confirm_password": password,
        },
        form_html,
    )
    assert done.status_code == 200, done.get_data(as_text=True)[:500]
    assert shadow_rows(app)[NEWCOMER].status == Status.ACTIVE.value
    as_zoe = Connection(Server(ldap_server.url), f"uid={NEWCOMER},{PEOPLE}", password)
    assert as_zoe.bind()
    as_zoe.unbind()
