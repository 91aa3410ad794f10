"""The help desk's situations of seed 001, end to end, through a real SMTP server.

1. "The user forgot the e-mail they registered": search, open, set a new
   address, send a reset link; the user follows it and chooses a password.
2. "A pupil forgot the password": a temporary password from the help desk;
   the pupil signs in with it and must choose a new one.
Plus the SMS link and the activation code. Both through the console and the CLI.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cas_server.accounts.model import Account, Status
from cas_server.auth import Success
from cas_server.storage.sql.models import AccountRow, AuditEventRow
from tests.support.app import PASSWORD, CasBrowser, make_account
from tests.support.cli import cli_runner
from tests.support.console import UUID_RE, act, console_client
from tests.support.html import csrf, text
from tests.support.outbound import SmsGateway, SmtpSink, body
from tests.support.sesame import PUBLIC_URL, SesameBrowser

APP = "https://app.example.org/"
NEW_PASSWORD = "Une phrase de passe toute neuve"
LINK_RE = re.compile(r"https?://\S+/sesame/password/reset/\S+")


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any]) -> dict[str, Any]:
    # No charter step here: the scenarios are about access, the charter has its tests.
    return {**sesame_overrides, "charters": {"path": ""}}


@pytest.fixture
def pupil(app: Flask) -> Account:
    return make_account(
        app,
        "eleve11.dedpt",
        given_name="Léa",
        family_name="Dédépé",
        personal_email="lea.old@example.net",
        mobile="+33612345678",
        student_number="22001234",
    )


@pytest.fixture
def desk(app: Flask) -> FlaskClient:
    return console_client(app, "desk", ("helpdesk",))


def reset_with_link(app: Flask, link: str) -> None:
    """What the user does with the mailed (or texted) link: choose a new password."""
    user = app.test_client()
    path = link.removeprefix(PUBLIC_URL)
    page = user.get(path)
    assert page.status_code == 200 and 'name="new_password"' in page.get_data(as_text=True)
    done = user.post(
        path,
        data={
            "csrf_token": csrf(page.get_data(as_text=True)),
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )
    assert done.status_code == 200, text(done)[:400]
    source = app.extensions["cas"].user_source
    assert isinstance(source.authenticate("eleve11.dedpt", NEW_PASSWORD), Success)


def account_row(app: Flask, uuid: str) -> AccountRow:
    with Session(app.extensions["cas"].engine) as s:
        return s.scalars(select(AccountRow).where(AccountRow.uuid == uuid)).one()


def audit(app: Flask, action: str) -> list[AuditEventRow]:
    with Session(app.extensions["cas"].engine) as s:
        return list(s.scalars(select(AuditEventRow).where(AuditEventRow.action == action)))


def test_forgotten_email_through_the_console(
    app: Flask, desk: FlaskClient, pupil: Account, smtp_sink: SmtpSink
) -> None:
    # 1. The first letters of the name, accents or not; 2. open the record.
    results = desk.get("/admin/?q=dede")
    assert "DÉDÉPÉ Léa" in text(results)
    uuid = UUID_RE.search(results.get_data(as_text=True))
    assert uuid and uuid.group(1) == pupil.uuid
    record = text(desk.get(f"/admin/accounts/{pupil.uuid}"))
    assert "eleve11.dedpt" in record and "l***d@example.net" in record

    # 3. A new address, saved, and the reset link sent there.
    done = act(
        desk,
        pupil.uuid,
        "reset-link",
        {"address": "lea.new@example.org", "save": "1"},
    )
    assert done.status_code == 303
    assert "A password-reset link was sent to l***w@example.org." in text(
        desk.get(done.headers["Location"])
    )
    # Not saved yet: only once the link sent there is used (issue #12, item 17).
    assert account_row(app, pupil.uuid).personal_email == "lea.old@example.net"

    mail = smtp_sink.wait(to="lea.new@example.org")[0]
    assert mail["Subject"] == "Réinitialiser votre mot de passe"  # the institution's language
    assert "assistance" in body(mail)
    notice = smtp_sink.wait(to="lea.old@example.net")[0]  # the owner is told (#11, item 1)
    assert "l***w@example.org" in body(notice) and "/sesame/" not in body(notice)

    # 4. The user follows the link and chooses a password: the address is proven.
    link = LINK_RE.search(body(mail))
    assert link
    reset_with_link(app, link.group(0))
    row = account_row(app, pupil.uuid)
    assert row.personal_email == "lea.new@example.org"
    assert row.personal_email_verified_at is not None
    assert len(smtp_sink.wait(2, to="lea.old@example.net")) >= 2  # and now the change (T11)
    event = audit(app, "admin_reset_link")[-1]
    assert (event.outcome, event.actor, event.ip) == ("sent", "desk", "127.0.0.1")
    assert event.details == {"to": "l***w@example.org", "saved": True}


def test_forgotten_password_of_a_pupil_through_the_console(
    app: Flask, desk: FlaskClient, pupil: Account, smtp_sink: SmtpSink
) -> None:
    CasBrowser(app.test_client()).login("eleve11.dedpt", PASSWORD)  # a session elsewhere
    shown = act(desk, pupil.uuid, "force-change", {"mode": "generated"})
    assert shown.status_code == 200
    secret = re.search(r'class="admin-secret"><code>([^<]+)</code>', shown.get_data(as_text=True))
    assert secret
    temporary = secret.group(1).replace("&amp;", "&")
    c = app.extensions["cas"]
    assert c.tickets.sessions_for("eleve11.dedpt", c.clock.now()) == []  # ended
    assert smtp_sink.wait(to="lea.old@example.net")  # the pupil is told

    # The pupil signs in with it and must choose a new password before the service.
    pupil_client = app.test_client()
    browser = CasBrowser(pupil_client)
    assert browser.login("eleve11.dedpt", PASSWORD).status_code == 401  # the old one is gone
    response = browser.login("eleve11.dedpt", temporary, service=APP)
    assert response.status_code == 303 and response.headers["Location"].endswith("/login/password")
    page = pupil_client.get("/login/password").get_data(as_text=True)
    done = pupil_client.post(
        "/login/password",
        data={
            "csrf_token": csrf(page),
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )
    assert done.status_code == 302 and "ticket=ST-" in done.headers["Location"]
    assert isinstance(c.user_source.authenticate("eleve11.dedpt", NEW_PASSWORD), Success)
    event = audit(app, "admin_force_change")[-1]
    assert event.details["generated"] is True and event.details["sessions_ended"] == 1
    assert temporary not in str(event.details)


def test_typed_temporary_password(app: Flask, desk: FlaskClient, pupil: Account) -> None:
    typed = "Mot de passe provisoire du collège"
    done = act(
        desk,
        pupil.uuid,
        "force-change",
        {"mode": "typed", "new_password": typed, "confirm_password": typed},
    )
    assert done.status_code == 303
    response = CasBrowser(app.test_client()).login("eleve11.dedpt", typed, service=APP)
    assert response.status_code == 303 and response.headers["Location"].endswith("/login/password")


def test_reset_link_by_sms(
    app: Flask, desk: FlaskClient, pupil: Account, sms_gateway: SmsGateway
) -> None:
    assert act(desk, pupil.uuid, "reset-sms").status_code == 303
    sms = sms_gateway.wait()[0]
    assert sms["to"] == "+33612345678" and len(sms["message"]) <= 160
    link = LINK_RE.search(sms["message"])
    assert link, sms
    reset_with_link(app, link.group(0))


def test_activation_code_by_mail_then_used(
    app: Flask, desk: FlaskClient, smtp_sink: SmtpSink
) -> None:
    newcomer = make_account(
        app,
        "nouveau",
        password=None,
        status=Status.NOT_ACTIVATED,
        personal_email="nouveau@example.net",
    )
    active = act(desk, newcomer.uuid, "activation", {"channel": "mail"})
    assert active.status_code == 303
    mail = smtp_sink.wait(to="nouveau@example.net")[0]
    code = re.search(r"\b([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})\b", body(mail))
    assert code, body(mail)
    user = SesameBrowser(app.test_client(), "fr")
    response = user.submit(
        "/sesame/activate", {"activation_code": code.group(1).lower()}, "/sesame/activate/code"
    )
    assert response.status_code == 303 and response.headers["Location"].endswith(
        "/sesame/activate/account"
    )

    shown = act(desk, newcomer.uuid, "activation", {"channel": "show"})
    assert shown.status_code == 200 and "admin-secret" in shown.get_data(as_text=True)
    refused = act(desk, newcomer.uuid, "reset-link")
    assert refused.status_code == 400 and "not activated yet" in text(refused)


def test_the_same_situations_from_the_command_line(
    app: Flask, pupil: Account, smtp_sink: SmtpSink
) -> None:
    runner = cli_runner(app)
    found = runner.invoke(args=["users", "search", "dédé"])
    assert found.exit_code == 0 and "eleve11.dedpt" in found.output
    shown = runner.invoke(args=["users", "show", "eleve11.dedpt"])
    assert "l***d@example.net" in shown.output and pupil.uuid in shown.output

    sent = runner.invoke(
        args=["users", "send-reset", "eleve11.dedpt", "--to", "lea.cli@example.org", "--save"]
    )
    assert sent.exit_code == 0, sent.output
    assert "sent to l***i@example.org" in sent.output
    mail = smtp_sink.wait(to="lea.cli@example.org")[0]
    link = LINK_RE.search(body(mail))
    assert link and link.group(0).startswith(PUBLIC_URL)
    reset_with_link(app, link.group(0))

    forced = runner.invoke(args=["users", "force-change", "eleve11.dedpt", "--generate"])
    assert forced.exit_code == 0, forced.output
    temporary = forced.output.rsplit(": ", 1)[1].strip()
    response = CasBrowser(app.test_client()).login("eleve11.dedpt", temporary, service=APP)
    assert response.status_code == 303 and response.headers["Location"].endswith("/login/password")
    events = audit(app, "admin_force_change") + audit(app, "admin_reset_link")
    assert {e.actor for e in events} == {"cli"}


def test_reset_link_to_the_address_on_file_or_none(
    app: Flask, desk: FlaskClient, pupil: Account, smtp_sink: SmtpSink
) -> None:
    assert act(desk, pupil.uuid, "reset-link").status_code == 303
    assert LINK_RE.search(body(smtp_sink.wait(to="lea.old@example.net")[0]))
    bare = make_account(app, "sans.adresse")
    refused = act(desk, bare.uuid, "reset-link")
    assert refused.status_code == 400
    assert "No personal e-mail address on file: type one." in text(refused)
    wrong = act(desk, bare.uuid, "reset-link", {"address": "not an address"})
    assert wrong.status_code == 400 and "name@example.org" in text(wrong)


def test_a_typed_address_is_not_saved_by_default_nor_before_its_link_is_used(
    app: Flask, desk: FlaskClient, pupil: Account, smtp_sink: SmtpSink
) -> None:
    """Issue #12, item 17: "save" is unticked, and never replaces the address at once."""
    page = desk.get(f"/admin/accounts/{pupil.uuid}/reset-link").get_data(as_text=True)
    assert re.search(r'<input[^>]*id="save"[^>]*>', page)
    assert "checked" not in re.search(r'<input[^>]*id="save"[^>]*>', page).group(0)
    # Typed, not saved: the link goes there, the address on file stays.
    assert act(desk, pupil.uuid, "reset-link", {"address": "typo@example.org"}).status_code == 303
    mail = smtp_sink.wait(to="typo@example.org")[0]
    link = LINK_RE.search(body(mail))
    assert link
    reset_with_link(app, link.group(0))
    assert account_row(app, pupil.uuid).personal_email == "lea.old@example.net"
    # Typed and saved, but the link never used: nothing replaced.
    act(desk, pupil.uuid, "reset-link", {"address": "stranger@example.org", "save": "1"})
    smtp_sink.wait(to="stranger@example.org")
    assert account_row(app, pupil.uuid).personal_email == "lea.old@example.net"
