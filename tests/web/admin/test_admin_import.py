"""CSV import in the console: dry run, confirmation, real run, and bad files (never a 500)."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cas_server.storage.sql.models import AccountRow, AuditEventRow
from tests.support.app import CasBrowser
from tests.support.console import console_client
from tests.support.html import csrf, text
from tests.support.paths import ROOT

EXAMPLE = (ROOT / "docs" / "examples" / "accounts.csv").read_bytes()
TOKEN_RE = re.compile(r'name="token" value="([^"]+)"')


@pytest.fixture
def app_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"admin": {"import_dir": str(tmp_path / "imports")}}


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    return console_client(app)


def upload(client: FlaskClient, data: bytes, name: str = "eleves.csv") -> Any:
    page = client.get("/admin/import")
    return client.post(
        "/admin/import",
        data={"csrf_token": csrf(page.get_data(as_text=True)), "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def confirm(client: FlaskClient, report_html: str, confirmed: bool = True) -> Any:
    token = TOKEN_RE.search(report_html)
    assert token, report_html[:300]
    data = {"csrf_token": csrf(report_html), "token": token.group(1)}
    if confirmed:
        data["confirm"] = "1"
    return client.post("/admin/import/confirm", data=data)


def count(app: Flask) -> int:
    with Session(app.extensions["cas"].engine) as s:
        return int(s.scalar(select(func.count()).select_from(AccountRow)) or 0)


def test_dry_run_confirm_and_reimport(app: Flask, admin: FlaskClient, tmp_path: Path) -> None:
    before = count(app)
    dry = upload(admin, EXAMPLE)
    assert dry.status_code == 200
    report = text(dry)
    assert "Import: dry run" in report and "Created 6" not in report
    assert "What the import would do Created Updated Unchanged Rejected 6 0 0 0" in report
    assert count(app) == before  # nothing yet
    assert len(list((tmp_path / "imports").glob("*.csv"))) == 1  # kept for the real run

    not_confirmed = confirm(admin, dry.get_data(as_text=True), confirmed=False)
    assert not_confirmed.status_code == 400 and count(app) == before
    assert "Tick the box to confirm this action." in text(not_confirmed)

    done = confirm(admin, dry.get_data(as_text=True))
    assert done.status_code == 200
    assert "Import done" in text(done) and "6 0 0 0" in text(done)
    assert count(app) == before + 6
    assert list((tmp_path / "imports").glob("*")) == []  # the file is gone
    # The token works once.
    again = confirm(admin, dry.get_data(as_text=True))
    assert "This import has expired" in text(again)

    moussa = admin.get("/admin/?q=ndiaye")
    assert "N'DIAYE Moussa" in text(moussa) or "N&#39;DIAYE" in moussa.get_data(as_text=True)

    reimport = upload(admin, EXAMPLE)
    assert "0 0 6 0" in text(reimport)
    assert 'name="token"' not in reimport.get_data(as_text=True)  # nothing to run
    assert "Nothing to create or update" in text(reimport)

    with Session(app.extensions["cas"].engine) as s:
        audit = s.scalars(select(AuditEventRow).where(AuditEventRow.action == "admin_import")).all()
    assert [e.outcome for e in audit] == ["dry_run", "dry_run", "success", "dry_run"]
    assert audit[2].actor == "root" and audit[2].details["created"] == 6


def test_report_lists_rejected_lines_with_reasons_in_french(app: Flask, admin: FlaskClient) -> None:
    data = (
        "nom;prenom;date_naissance;profil;identifiant\n"
        "Martin;Anna;31/02/2009;eleve;a.martin\n"
        "Martin;Bob;14/03/2005;martien;b.martin\n"
        ";Chloé;14/03/2005;eleve;c.martin\n"
        "Martin;Dan;14/03/2005;eleve;a.martin\n"
        "Martin;Emma;14/03/2005;eleve;e.martin\n"
    ).encode()
    admin.get("/admin/import?lang=fr")
    report = text(upload(admin, data))
    assert "Ligne Motif" in report
    assert "2 Date de naissance invalide : 31/02/2009 (attendu : jj/mm/aaaa)." in report
    assert "3 Profil inconnu : martien." in report
    assert "4 La colonne Nom est vide." in report
    assert (
        "5 Identifiant a.martin en double (déjà à la ligne 2)." not in report
    )  # line 2 was rejected
    assert "1 0 0 4" in report or "2 0 0 3" in report


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "The file is empty."),
        (b"\x00\x01\x02\x03PK\x03\x04" * 100, "This is not a CSV text file (binary content)."),
        (b"login;email\nx;y@z.fr\n", "Missing columns: Given name, Family name, Profile."),
        (b"nom;prenom;profil;nom\nA;B;eleve;C\n", "Columns given twice: Family name."),
        (b"nom prenom profil\n", "No column separator found"),
    ],
)
def test_bad_files_get_a_clear_message(admin: FlaskClient, data: bytes, says: str) -> None:
    response = upload(admin, data)
    assert response.status_code == 400
    assert says in text(response)
    assert "There is a problem" in text(response)


def test_windows_1252_and_commas(app: Flask, admin: FlaskClient) -> None:
    data = "Nom,Prénom,Profil\r\nLefèbvre,Éloïse,Élève\r\n".encode("cp1252")
    done = confirm(admin, upload(admin, data).get_data(as_text=True))
    assert done.status_code == 200
    assert "LEFÈBVRE Éloïse" in text(admin.get("/admin/?q=lefe"))


def test_a_50_mb_upload_gets_a_clear_message(app: Flask, admin: FlaskClient) -> None:
    big = b"nom;prenom;profil\n" + b"Martin;Camille;eleve\n" * (50 * 1024 * 1024 // 21)
    assert len(big) > 50 * 1024 * 1024
    response = upload(admin, big, "big.csv")
    assert response.status_code == 400
    message = text(response)
    assert "The file is too large (50 MB; at most 10 MB)." in message
    assert count(app) == 1


def test_a_file_over_a_small_limit(app: Flask, admin: FlaskClient) -> None:
    app.extensions["admin"].settings = type(app.extensions["admin"].settings)(
        **{**vars(app.extensions["admin"].settings), "import_max_bytes": 2000}
    )
    response = upload(admin, EXAMPLE * 5)
    assert response.status_code == 400 and "The file is too large" in text(response)


def test_a_failing_real_run_changes_nothing(app: Flask, admin: FlaskClient) -> None:
    dry = upload(admin, EXAMPLE)
    before = count(app)
    engine = app.extensions["cas"].engine
    seen = {"n": 0}

    def fail(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT INTO accounts"):
            seen["n"] += 1
            if seen["n"] == 4:
                raise IntegrityError(statement, {}, Exception("UNIQUE constraint failed"))

    event.listen(engine, "before_cursor_execute", fail)
    try:
        response = confirm(admin, dry.get_data(as_text=True))
    finally:
        event.remove(engine, "before_cursor_execute", fail)
    assert response.status_code == 400
    assert "The import failed and nothing was changed (IntegrityError)." in text(response)
    assert count(app) == before


def test_helpdesk_cannot_import(app: Flask) -> None:
    desk = console_client(app, "desk", ("helpdesk",))
    assert desk.get("/admin/import").status_code == 403
    response = desk.post(
        "/admin/import",
        data={
            "csrf_token": CasBrowser(desk).csrf(),
            "file": (io.BytesIO(EXAMPLE), "x.csv"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 403
    assert count(app) == 1


def test_cancel_deletes_the_kept_file(admin: FlaskClient, tmp_path: Path) -> None:
    dry = upload(admin, EXAMPLE).get_data(as_text=True)
    token = TOKEN_RE.search(dry)
    assert token
    response = admin.post(
        "/admin/import/cancel", data={"csrf_token": csrf(dry), "token": token.group(1)}
    )
    assert response.status_code == 303
    assert list((tmp_path / "imports").glob("*")) == []


def test_upload_needs_the_csrf_token(app: Flask, admin: FlaskClient) -> None:
    response = admin.post(
        "/admin/import",
        data={"csrf_token": "forged", "file": (io.BytesIO(EXAMPLE), "x.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400 and count(app) == 1
