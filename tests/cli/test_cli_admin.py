"""Every console action from the command line (actor "cli"), for scripting."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from cas_server.accounts.model import Status
from cas_server.auth import Success
from cas_server.storage.sql.models import AuditEventRow
from tests.support.app import PASSWORD, CasBrowser, make_account
from tests.support.paths import ROOT

EXAMPLE = ROOT / "docs" / "examples" / "accounts.csv"


def run(runner: Any, *args: str, input: str | None = None, ok: bool = True) -> str:
    result = runner.invoke(args=list(args), input=input)
    assert (result.exit_code == 0) is ok, result.output
    return str(result.output)


def actors(app: Flask) -> dict[str, set[str]]:
    with Session(app.extensions["cas"].engine) as s:
        found: dict[str, set[str]] = {}
        for e in s.scalars(select(AuditEventRow).where(AuditEventRow.action.like("admin_%"))):
            found.setdefault(e.action, set()).add(f"{e.actor}:{e.outcome}")
        return found


def test_roles_grant_the_first_admin(app: Flask, runner: Any) -> None:
    make_account(app, "jdupont")
    assert "roles of jdupont: none" in run(runner, "users", "roles", "jdupont")
    assert "roles of jdupont: admin" in run(runner, "users", "roles", "jdupont", "--add", "admin")
    out = run(runner, "users", "roles", "jdupont", "--add", "helpdesk", "--remove", "admin")
    assert "roles of jdupont: helpdesk" in out
    assert "Unknown role root" in run(
        runner, "users", "roles", "jdupont", "--add", "root", ok=False
    )
    assert "no account 'nobody'" in run(runner, "users", "roles", "nobody", ok=False)
    assert actors(app)["admin_roles"] == {"cli:success", "cli:refused"}


def test_lock_unlock_alias_end_sessions(app: Flask, runner: Any) -> None:
    make_account(app, "alice")
    make_account(app, "bob")
    CasBrowser(app.test_client()).login("alice", PASSWORD)
    assert "alice locked; 1 SSO session(s) ended" in run(
        runner, "users", "lock", "alice", "--reason", "test"
    )
    assert app.extensions["cas"].accounts.find_by_login("alice").status is Status.LOCKED
    assert "already locked" in run(runner, "users", "lock", "alice", ok=False)
    assert "alice unlocked (status active)" in run(runner, "users", "unlock", "alice")

    assert "alias of alice: ali" in run(runner, "users", "alias", "alice", "Ali")
    assert "already the login or alias" in run(runner, "users", "alias", "bob", "ali", ok=False)
    assert "already the login or alias" in run(runner, "users", "alias", "bob", "alice", ok=False)
    assert "alias of alice: none" in run(runner, "users", "alias", "alice", "--clear")
    assert "give the alias" in run(runner, "users", "alias", "alice", ok=False)

    CasBrowser(app.test_client()).login("alice", PASSWORD)
    assert "1 SSO session(s) of alice ended" in run(runner, "users", "end-sessions", "alice")
    found = actors(app)
    assert found["admin_lock"] == {"cli:success", "cli:refused"}
    assert found["admin_end_sessions"] == {"cli:success"}


def test_force_change_with_a_typed_temporary_password(app: Flask, runner: Any) -> None:
    make_account(app, "alice")
    typed = "Un mot de passe provisoire assez long"
    out = run(
        runner, "users", "force-change", "alice", "--temporary-password-stdin", input=typed + "\n"
    )
    assert "temporary password of alice set" in out
    c = app.extensions["cas"]
    result = c.user_source.authenticate("alice", typed)
    assert isinstance(result, Success) and result.must_change_password
    refused = run(
        runner,
        "users",
        "force-change",
        "alice",
        "--temporary-password-stdin",
        input="short\n",
        ok=False,
    )
    assert "The password was not accepted:" in refused and "min_length" in refused
    assert "must choose a new password" in run(runner, "users", "force-change", "alice")


def test_link_and_unlink(app: Flask, runner: Any) -> None:
    make_account(app, "parent.martin")
    make_account(app, "staff.martin")
    assert "staff.martin is now linked to parent.martin" in run(
        runner, "users", "link", "parent.martin", "staff.martin"
    )
    assert "linked: staff.martin" in run(runner, "users", "show", "parent.martin")
    assert "already linked" in run(
        runner, "users", "link", "parent.martin", "staff.martin", ok=False
    )
    assert "no longer linked" in run(runner, "users", "unlink", "staff.martin", "parent.martin")
    assert "not linked" in run(runner, "users", "unlink", "staff.martin", "parent.martin", ok=False)


def test_import_dry_run_then_real_then_again(app: Flask, runner: Any) -> None:
    dry = run(runner, "users", "import", str(EXAMPLE), "--dry-run")
    assert "line 2: would create camille.martin" in dry
    assert "dry run, nothing changed: created 6, updated 0, unchanged 0, rejected 0" in dry
    assert app.extensions["cas"].accounts.find_by_login("camille.martin") is None
    real = run(runner, "users", "import", str(EXAMPLE))
    assert "imported: created 6, updated 0, unchanged 0, rejected 0" in real
    again = run(runner, "users", "import", str(EXAMPLE))
    assert "imported: created 0, updated 0, unchanged 6, rejected 0" in again
    assert "Martin Camille" in run(runner, "users", "search", "mart")
    assert actors(app)["admin_import"] == {"cli:dry_run", "cli:success"}


def test_import_reports_bad_lines_and_refuses_bad_files(tmp_path: Path, runner: Any) -> None:
    lines = tmp_path / "lines.csv"
    lines.write_bytes(
        "nom;prénom;profil;date de naissance\nMartin;Zoé;élève;31/02/2010\n".encode("cp1252")
    )
    out = run(runner, "users", "import", str(lines), "--dry-run")
    assert "line 2: rejected: Invalid birth date 31/02/2010 (expected dd/mm/yyyy)." in out
    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" * 50)
    assert "binary content" in run(runner, "users", "import", str(binary), ok=False)
    big = tmp_path / "big.csv"
    with big.open("wb") as f:
        f.write(b"nom;prenom;profil\n")
        f.write(b"Martin;Camille;eleve\n" * (11 * 1024 * 1024 // 21))
    assert "The file is too large" in run(runner, "users", "import", str(big), ok=False)


def test_audit_export_and_purge(app: Flask, runner: Any, tmp_path: Path) -> None:
    make_account(app, "alice")
    CasBrowser(app.test_client()).login("alice", "wrong")
    run(runner, "users", "lock", "alice")
    out = tmp_path / "audit.csv"
    assert "written" in run(runner, "audit", "export", "--login", "alice", "-o", str(out))
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig")), delimiter=";"))
    assert [r[1] for r in rows[1:]] == ["login", "admin_lock"]
    stdout = run(runner, "audit", "export", "--action", "admin_lock")
    assert "admin_lock" in stdout and "invalid_credentials" not in stdout
    assert "0 audit event(s) older than 30 days removed" in run(
        runner, "audit", "purge", "--days", "30"
    )


def test_reindex_repairs_search_keys(app: Flask, runner: Any) -> None:
    make_account(app, "alice", family_name="Écrivain")
    with app.extensions["cas"].engine.begin() as conn:
        conn.exec_driver_sql("UPDATE accounts SET search_family = ''")
    assert "0 account(s)" in run(runner, "users", "search", "ecri")
    assert "1 account(s) reindexed" in run(runner, "users", "reindex")
    assert "1 account(s)" in run(runner, "users", "search", "ecri")


@pytest.mark.parametrize(
    "args",
    [
        ("users", "send-reset", "nobody"),
        ("users", "send-sms", "alice"),
        ("users", "resend-activation", "alice"),
    ],
)
def test_sending_commands_refuse_clearly(app: Flask, runner: Any, args: tuple[str, ...]) -> None:
    make_account(app, "alice")
    out = run(runner, *args, ok=False)
    assert "Error:" in out and "Traceback" not in out
