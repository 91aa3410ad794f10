"""The audit trail page: filters, pages, CSV export; retention and purge."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from cas_server.storage.sql.models import AuditEventRow
from tests.support.app import PASSWORD, CasBrowser, make_account
from tests.support.cli import cli_runner
from tests.support.console import console_client
from tests.support.html import text


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    client = console_client(app)
    make_account(app, "alice")
    browser = CasBrowser(app.test_client())
    browser.login("alice", "wrong")
    browser.login("alice", PASSWORD)
    old = datetime.now(UTC) - timedelta(days=400)
    with app.extensions["cas"].engine.begin() as conn:
        conn.execute(
            insert(AuditEventRow),
            [
                {
                    "at": old,
                    "action": "login",
                    "outcome": "success",
                    "login": "alice",
                    "details": {},
                },
                {
                    "at": old,
                    "action": "login",
                    "outcome": "success",
                    "login": "ghost",
                    "details": {},
                },
            ],
        )
    return client


def test_filters_by_account_action_and_dates(admin: FlaskClient) -> None:
    page = text(admin.get("/admin/audit?login=Alice&action=login"))
    assert "Events: 3" in page  # 2 recent + 1 old, not root's nor ghost's
    assert "Wrong identifier or password" in page  # the outcome's label (issue #12, item 14)
    recent = text(admin.get(f"/admin/audit?login=alice&since={datetime.now(UTC).date()}"))
    assert "Events: 2" in recent
    old_day = (datetime.now(UTC) - timedelta(days=400)).date()
    old = text(admin.get(f"/admin/audit?since={old_day}&until={old_day}"))
    assert "Events: 2" in old and "ghost" in old


def test_bad_dates_are_explained(admin: FlaskClient) -> None:
    # Day/month/year, as the hint says (and year-month-day); a date that does not exist is not.
    response = admin.get("/admin/audit?since=31/02/2026")
    assert response.status_code == 400 and "Enter a date such as 01/09/2026." in text(response)
    backwards = admin.get("/admin/audit?since=2026-10-01&until=2026-09-01")
    assert "The end date is before the start date." in text(backwards)


def test_pages(app: Flask, admin: FlaskClient) -> None:
    now = datetime.now(UTC)
    with app.extensions["cas"].engine.begin() as conn:
        conn.execute(
            insert(AuditEventRow),
            [{"at": now, "action": "bulk", "outcome": "x", "details": {}} for _ in range(60)],
        )
    first = text(admin.get("/admin/audit?action=bulk"))
    assert "Events: 60" in first and "Page 1 of 3" in first
    assert "Page 3 of 3" in text(admin.get("/admin/audit?action=bulk&page=3"))


def test_csv_export_follows_the_filters_and_is_audited(app: Flask, admin: FlaskClient) -> None:
    response = admin.get("/admin/audit.csv?login=alice")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff")), delimiter=";"))
    assert rows[0] == ["at", "action", "outcome", "login", "account_uuid", "actor", "ip", "details"]
    assert {r[3] for r in rows[1:]} == {"alice"} and len(rows) == 4
    with Session(app.extensions["cas"].engine) as s:
        export = s.scalars(
            select(AuditEventRow).where(AuditEventRow.action == "admin_audit_export")
        ).one()
    assert export.actor == "root" and export.details["filter"]["login"] == "alice"


def test_record_shows_the_recent_events_of_the_account(app: Flask, admin: FlaskClient) -> None:
    alice = app.extensions["cas"].accounts.find_by_login("alice")
    record = text(admin.get(f"/admin/accounts/{alice.uuid}"))
    assert "Recent events" in record and "Wrong identifier or password" in record


def test_purge_keeps_the_retention(app: Flask, admin: FlaskClient) -> None:
    runner = cli_runner(app)
    result = runner.invoke(args=["audit", "purge"])
    assert result.exit_code == 0, result.output
    assert "2 audit event(s) older than 365 days removed" in result.output
    assert "ghost" not in text(admin.get("/admin/audit"))
    assert "Events: 0" in text(admin.get("/admin/audit?login=ghost"))
    purge = text(admin.get("/admin/audit?action=admin_audit_purge"))
    assert "Events: 1" in purge and "cli" in purge


def test_csv_export_neutralises_formulas(app: Flask, admin: FlaskClient) -> None:
    CasBrowser(app.test_client()).login('=HYPERLINK("http://evil")', "x")
    body = admin.get("/admin/audit.csv?action=login").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff")), delimiter=";"))
    logins = [r[3] for r in rows[1:]]
    assert '\'=hyperlink("http://evil")' in logins
    assert not any(cell.startswith(("=", "+", "@")) for r in rows for cell in r)
