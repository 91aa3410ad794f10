"""Every password write has the same consequences, whichever path made it
(issue #11, item 9; T6, T11): outstanding links and codes end, the owner is
told by mail, and the write is audited.

The paths: the forced change at sign-in (after a temporary password, a
console "force change" or an expiry), the help desk's temporary password,
the command line, the profile and the self-service reset.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cas_server.accounts.model import Account
from cas_server.storage.sql.models import AccountRow, AuditEventRow
from tests.support.app import PASSWORD, CasBrowser, make_account
from tests.support.cli import cli_runner
from tests.support.console import act, console_client
from tests.support.html import csrf
from tests.support.outbound import SmtpSink, body
from tests.support.sesame import PUBLIC_URL, drained

APP = "https://app.example.org/"
TEMPORARY = "Mot de passe provisoire du collège"
CHOSEN = "Une phrase de passe toute neuve"
LINK_RE = re.compile(r"https?://\S+/sesame/password/reset/\S+")
CHANGED = "Votre mot de passe a été modifié"


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**sesame_overrides, "charters": {"path": ""}}


@pytest.fixture
def pupil(app: Flask) -> Account:
    return make_account(app, "eleve", personal_email="eleve@example.net", mobile="+33612345678")


@pytest.fixture
def desk(app: Flask) -> FlaskClient:
    return console_client(app, "desk", ("helpdesk",))


def reset_link(app: Flask, desk: FlaskClient, account: Account, sink: SmtpSink) -> str:
    """A reset link the help desk sent to the address on file (the newest one)."""
    assert act(desk, account.uuid, "reset-link").status_code == 303
    drained(app)
    links = [m.group(0) for mail in sink.delivered() if (m := LINK_RE.search(body(mail)))]
    assert links
    return links[-1].removeprefix(PUBLIC_URL)


def link_opens_the_form(app: Flask, path: str) -> bool:
    page = app.test_client().get(path)
    return page.status_code == 200 and 'name="new_password"' in page.get_data(as_text=True)


def change_at_sign_in(app: Flask, login: str, password: str) -> None:
    """Sign in with ``password``, then choose CHOSEN on the forced-change page."""
    client = app.test_client()
    response = CasBrowser(client).login(login, password, service=APP)
    assert response.status_code == 303 and response.headers["Location"].endswith("/login/password")
    page = client.get("/login/password").get_data(as_text=True)
    done = client.post(
        "/login/password",
        data={"csrf_token": csrf(page), "new_password": CHOSEN, "confirm_password": CHOSEN},
    )
    assert done.status_code == 302 and "ticket=ST-" in done.headers["Location"]


def confirmations(app: Flask, sink: SmtpSink, address: str) -> list[str]:
    drained(app)
    return [
        body(m)
        for m in sink.delivered()
        if address in str(m["To"]) and str(m["Subject"]) == CHANGED
    ]


def test_a_console_temporary_password_ends_the_reset_link_sent_before(
    app: Flask, desk: FlaskClient, pupil: Account, smtp_sink: SmtpSink
) -> None:
    link = reset_link(app, desk, pupil, smtp_sink)
    assert link_opens_the_form(app, link)
    typed = {"mode": "typed", "new_password": TEMPORARY, "confirm_password": TEMPORARY}
    assert act(desk, pupil.uuid, "force-change", typed).status_code == 303
    assert not link_opens_the_form(app, link)
    assert len(confirmations(app, smtp_sink, "eleve@example.net")) == 1


def test_the_forced_change_at_sign_in_confirms_and_ends_earlier_links(
    app: Flask, desk: FlaskClient, pupil: Account, smtp_sink: SmtpSink
) -> None:
    typed = {"mode": "typed", "new_password": TEMPORARY, "confirm_password": TEMPORARY}
    assert act(desk, pupil.uuid, "force-change", typed).status_code == 303
    link = reset_link(app, desk, pupil, smtp_sink)  # sent after the temporary password
    assert link_opens_the_form(app, link)
    before = len(confirmations(app, smtp_sink, "eleve@example.net"))

    change_at_sign_in(app, "eleve", TEMPORARY)

    assert not link_opens_the_form(app, link)  # T6
    after = confirmations(app, smtp_sink, "eleve@example.net")
    assert len(after) == before + 1  # T11
    assert "eleve" in after[-1] and TEMPORARY not in after[-1] and CHOSEN not in after[-1]
    with Session(app.extensions["cas"].engine) as s:
        events = list(
            s.scalars(select(AuditEventRow).where(AuditEventRow.action == "password_change"))
        )
    assert events and events[-1].details["during"] == "login"


def test_a_flag_only_force_change_then_the_change_at_sign_in(
    app: Flask, desk: FlaskClient, pupil: Account, smtp_sink: SmtpSink
) -> None:
    assert act(desk, pupil.uuid, "force-change", {"mode": "flag"}).status_code == 303
    link = reset_link(app, desk, pupil, smtp_sink)
    change_at_sign_in(app, "eleve", PASSWORD)
    assert not link_opens_the_form(app, link)
    assert confirmations(app, smtp_sink, "eleve@example.net")


def test_an_expired_password_changed_at_sign_in(
    app: Flask, desk: FlaskClient, pupil: Account, smtp_sink: SmtpSink
) -> None:
    app.extensions["cas"].settings.raw["passwords"]["max_age_days"] = 30
    with Session(app.extensions["cas"].engine) as s, s.begin():
        old = datetime.now(UTC) - timedelta(days=31)
        s.execute(
            update(AccountRow)
            .where(AccountRow.uuid == pupil.uuid)
            .values(password_changed_at=old, last_login_at=old)
        )
    link = reset_link(app, desk, pupil, smtp_sink)
    change_at_sign_in(app, "eleve", PASSWORD)
    assert not link_opens_the_form(app, link)
    assert confirmations(app, smtp_sink, "eleve@example.net")


def test_the_command_line_ends_earlier_links_and_tells_the_owner(
    app: Flask, desk: FlaskClient, pupil: Account, smtp_sink: SmtpSink
) -> None:
    link = reset_link(app, desk, pupil, smtp_sink)
    result = cli_runner(app).invoke(
        args=["users", "set-password", "eleve", "--password-stdin"], input=CHOSEN + "\n"
    )
    assert result.exit_code == 0, result.output
    assert not link_opens_the_form(app, link)
    assert confirmations(app, smtp_sink, "eleve@example.net")


def test_a_self_service_reset_sends_one_confirmation(
    app: Flask, desk: FlaskClient, pupil: Account, smtp_sink: SmtpSink
) -> None:
    link = reset_link(app, desk, pupil, smtp_sink)
    user = app.test_client()
    page = user.get(link).get_data(as_text=True)
    done = user.post(
        link,
        data={"csrf_token": csrf(page), "new_password": CHOSEN, "confirm_password": CHOSEN},
    )
    assert done.status_code == 200
    assert len(confirmations(app, smtp_sink, "eleve@example.net")) == 1


def test_nothing_is_mailed_when_the_write_is_refused(
    app: Flask, desk: FlaskClient, pupil: Account, smtp_sink: SmtpSink
) -> None:
    link = reset_link(app, desk, pupil, smtp_sink)
    weak = {"mode": "typed", "new_password": "court", "confirm_password": "court"}
    assert act(desk, pupil.uuid, "force-change", weak).status_code == 400
    assert link_opens_the_form(app, link)
    assert confirmations(app, smtp_sink, "eleve@example.net") == []
