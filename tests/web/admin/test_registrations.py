"""The console's queue of self-registrations (``[registration] require_approval``, #16).

Abuse cases first: no console role → 403, CSRF missing → 400, a decided or unknown
request → nothing changes, an address that has an account by then → none created;
then approve (the account, its login mailed) and refuse (the reason mailed), both
audited, in both languages.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cas_server.storage.sql.models import AccountRow, RegistrationRequestRow
from tests.support.app import CasBrowser, events, make_account, rows, through_cas
from tests.support.console import console_client
from tests.support.html import csrf, text
from tests.support.outbound import SmtpSink
from tests.support.registration import (
    PASSWORD,
    confirm_path,
    mail_text,
    register,
    registration_overrides,
)
from tests.support.sesame import SesameBrowser, drained


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any], request: pytest.FixtureRequest) -> Any:
    extra = getattr(request, "param", {"require_approval": True})
    overrides = registration_overrides(sesame_overrides, **extra)
    overrides["charters"] = {"path": ""}  # the operators' sign-in goes straight through
    return overrides


def waiting_request(
    app: Flask, sink: SmtpSink, email: str = "jean@example.net", lang: str = "en"
) -> str:
    """A request confirmed by its owner, now in the queue; its id."""
    client = app.test_client()
    register(SesameBrowser(client, lang), email)
    path = confirm_path(app, sink, email)
    page = client.get(path)
    assert "reviewed by the help desk" in text(page) or "examinée" in text(page)
    done = client.post(path, data={"csrf_token": csrf(page.get_data(as_text=True))})
    assert done.status_code == 200
    assert rows(app, AccountRow, personal_email=email) == []  # nothing can sign in yet
    found = [r for r in rows(app, RegistrationRequestRow, email=email)]
    assert found[-1].status == "awaiting_approval"
    return str(found[-1].id)


def decide(client: FlaskClient, request_id: str, decision: str, **data: str) -> Any:
    page = client.get(f"/admin/registrations/{request_id}")
    assert page.status_code == 200, page.status_code
    html = page.get_data(as_text=True)
    if 'name="csrf_token"' not in html:  # a decided request: no form, the session's token
        html = client.get("/login?renew=true").get_data(as_text=True)
    token = csrf(html)
    return client.post(
        f"/admin/registrations/{request_id}/{decision}", data={"csrf_token": token, **data}
    )


def test_no_console_role_no_queue(app: Flask, smtp_sink: SmtpSink) -> None:
    request_id = waiting_request(app, smtp_sink)
    make_account(app, "bob")
    client = app.test_client()
    client.get("/login?lang=en")
    sign_in_page = client.get("/admin/registrations")
    assert sign_in_page.status_code == 302  # to the login form
    through_cas(client, "/admin/registrations", "bob")
    assert client.get("/admin/registrations").status_code == 403
    assert client.get(f"/admin/registrations/{request_id}").status_code == 403
    token = csrf(client.get("/login?renew=true").get_data(as_text=True))
    posted = client.post(
        f"/admin/registrations/{request_id}/approve", data={"csrf_token": token, "confirm": "1"}
    )
    assert posted.status_code == 403
    assert rows(app, RegistrationRequestRow)[0].status == "awaiting_approval"


def test_csrf_confirmation_and_reason_are_required(app: Flask, smtp_sink: SmtpSink) -> None:
    request_id = waiting_request(app, smtp_sink)
    client = console_client(app, "helper", ("helpdesk",))
    no_csrf = client.post(f"/admin/registrations/{request_id}/approve", data={"confirm": "1"})
    assert no_csrf.status_code == 400
    unconfirmed = decide(client, request_id, "approve")
    assert unconfirmed.status_code == 400
    assert "Tick the box to confirm this action." in text(unconfirmed)
    no_reason = decide(client, request_id, "refuse", confirm="1")
    assert no_reason.status_code == 400
    assert "Give the reason: it is sent to the person." in text(no_reason)
    assert rows(app, RegistrationRequestRow)[0].status == "awaiting_approval"
    assert client.get("/admin/registrations/" + "0" * 36).status_code == 404
    assert client.post("/admin/registrations/nope/approve").status_code in (400, 404)


def test_approve_creates_the_account_once(app: Flask, smtp_sink: SmtpSink) -> None:
    request_id = waiting_request(app, smtp_sink, lang="fr")
    client = console_client(app, "helper", ("helpdesk",))
    listing = client.get("/admin/registrations")
    assert listing.status_code == 200
    assert "Jean Dupont" in text(listing) and "jean@example.net" in text(listing)
    assert 'href="/admin/registrations"' in listing.get_data(as_text=True)  # nav entry
    done = decide(client, request_id, "approve", confirm="1")
    assert done.status_code == 303
    assert "jean.dupont" in text(client.get(done.headers["Location"]))
    account = app.extensions["cas"].accounts.find_by_login("jean.dupont")
    assert account is not None and account.personal_email == "jean@example.net"
    # The person's language, not the operator's.
    subject, welcome = mail_text(app, smtp_sink, "jean@example.net", 2)
    assert subject == "Votre compte est prêt" and "jean.dupont" in welcome
    # Once: a second approval changes nothing.
    again = decide(client, request_id, "approve", confirm="1")
    assert again.status_code == 409 and "no longer waiting" in text(again)
    assert len(rows(app, AccountRow, personal_email="jean@example.net")) == 1
    approvals = events(app, "admin_registration_approve")
    assert [(e.outcome, e.actor) for e in approvals] == [
        ("success", "helper"),
        ("refused", "helper"),
    ]
    assert CasBrowser(app.test_client()).login("jean.dupont", PASSWORD).status_code == 200


def test_refuse_mails_the_reason(app: Flask, smtp_sink: SmtpSink) -> None:
    request_id = waiting_request(app, smtp_sink)
    client = console_client(app)
    done = decide(client, request_id, "refuse", confirm="1", reason="Not a partner <b>org</b>")
    assert done.status_code == 303
    subject, refusal = mail_text(app, smtp_sink, "jean@example.net", 2)
    assert subject == "Your account creation request"
    assert "Not a partner <b>org</b>" in refusal
    assert rows(app, AccountRow, personal_email="jean@example.net") == []
    row = rows(app, RegistrationRequestRow)[0]
    assert row.status == "refused" and "password_hash" not in row.data
    listing = client.get("/admin/registrations").get_data(as_text=True)
    assert "Not a partner &lt;b&gt;org&lt;/b&gt;" in listing  # escaped
    assert decide(client, request_id, "approve", confirm="1").status_code == 409
    assert rows(app, AccountRow, personal_email="jean@example.net") == []
    refusal_events = events(app, "admin_registration_refuse")
    assert refusal_events[0].details["reason"] == "Not a partner <b>org</b>"


def test_an_address_taken_meanwhile_gets_no_second_account(app: Flask, smtp_sink: SmtpSink) -> None:
    request_id = waiting_request(app, smtp_sink)
    make_account(app, "jdupont", personal_email="jean@example.net")
    client = console_client(app)
    refused = decide(client, request_id, "approve", confirm="1")
    assert refused.status_code == 409
    assert "has an account by now" in text(refused)
    assert len(rows(app, AccountRow, personal_email="jean@example.net")) == 1
    drained(app, smtp_sink)


@pytest.mark.parametrize("app_overrides", [{"enabled": False}], indirect=True)
def test_off_means_404(app: Flask) -> None:
    client = console_client(app)
    assert client.get("/admin/registrations").status_code == 404
    assert 'href="/admin/registrations"' not in client.get("/admin/").get_data(as_text=True)
