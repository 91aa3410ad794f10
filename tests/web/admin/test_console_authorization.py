"""Who may act on whom from the console (issue #11, item 1).

An operator acts only on accounts ranked strictly below them: the help desk
never on an account holding a console role, an administrator never on
another administrator (nor on themselves). Every attempt is refused on the
POST (whatever the form holds), audited, and the owner of any account the
console did act on is told by mail.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cas_server.accounts.model import Account
from cas_server.auth import Success
from cas_server.storage.sql.models import AccountRow, AuditEventRow
from tests.support.app import PASSWORD, CasBrowser, make_account
from tests.support.cli import cli_runner
from tests.support.console import act, console_client
from tests.support.html import csrf, text
from tests.support.outbound import SmtpSink, body

CHOSEN = "Mot de passe choisi par le pirate 42"


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**sesame_overrides, "charters": {"path": ""}}


@pytest.fixture
def boss(app: Flask) -> Account:
    return make_account(
        app,
        "boss",
        roles=["admin"],
        given_name="Big",
        family_name="Boss",
        personal_email="boss@example.net",
    )


@pytest.fixture
def other_desk(app: Flask) -> Account:
    return make_account(app, "desk2", roles=["helpdesk"], personal_email="desk2@example.net")


@pytest.fixture
def student(app: Flask) -> Account:
    return make_account(app, "etu", personal_email="etu@example.net")


def _post(client: FlaskClient, uuid: str, slug: str, data: dict[str, str]) -> Any:
    """The raw POST an attacker sends: a CSRF token from a page they may open, no GET
    of the target's action page."""
    app = client.application
    bystander = app.extensions["cas"].accounts.find_by_login("bystander") or make_account(
        app, "bystander"
    )
    token = csrf(client.get(f"/admin/accounts/{bystander.uuid}/lock").get_data(as_text=True))
    return client.post(
        f"/admin/accounts/{uuid}/{slug}", data={"csrf_token": token, "confirm": "1", **data}
    )


def _row(app: Flask, uuid: str) -> AccountRow:
    with Session(app.extensions["cas"].engine) as s:
        return s.scalars(select(AccountRow).where(AccountRow.uuid == uuid)).one()


def _refusals(app: Flask) -> list[AuditEventRow]:
    with Session(app.extensions["cas"].engine) as s:
        return list(s.scalars(select(AuditEventRow).where(AuditEventRow.outcome == "refused")))


EVERY_ACTION: list[tuple[str, dict[str, str]]] = [
    ("force-change", {"mode": "typed", "new_password": CHOSEN, "confirm_password": CHOSEN}),
    ("force-change", {"mode": "generated"}),
    ("force-change", {"mode": "flag"}),
    ("reset-link", {"address": "attacker@evil.example", "save": "1"}),
    ("reset-link", {"address": "attacker@evil.example"}),
    ("reset-sms", {}),
    ("lock", {"reason": "x"}),
    ("end-sessions", {}),
    ("alias", {"alias": "bossalias"}),
    ("link", {"other_login": "etu"}),
]


@pytest.mark.parametrize(("slug", "data"), EVERY_ACTION)
def test_the_help_desk_cannot_act_on_an_admin(
    app: Flask,
    boss: Account,
    student: Account,
    smtp_sink: SmtpSink,
    slug: str,
    data: dict[str, str],
) -> None:
    desk = console_client(app, "desk", ("helpdesk",))
    before = _row(app, boss.uuid)
    response = _post(desk, boss.uuid, slug, data)
    assert response.status_code == 400  # the form again, with the refusal
    assert "console role equal to or above yours" in text(response)
    after = _row(app, boss.uuid)
    assert (after.password_hash, after.status, after.alias, after.personal_email) == (
        before.password_hash,
        before.status,
        before.alias,
        before.personal_email,
    )
    assert after.must_change_password == before.must_change_password
    assert not [m for m in smtp_sink.delivered() if m["To"] == "attacker@evil.example"]
    refused = _refusals(app)
    assert refused and refused[-1].actor == "desk" and refused[-1].account_uuid == boss.uuid
    # The action page itself is not even shown.
    assert desk.get(f"/admin/accounts/{boss.uuid}/{slug}").status_code == 403


def test_the_reported_takeover_no_longer_works(app: Flask, boss: Account) -> None:
    """The review's reproduction: typed temporary password, then sign in as the admin."""
    desk = console_client(app, "desk", ("helpdesk",))
    _post(
        desk,
        boss.uuid,
        "force-change",
        {"mode": "typed", "new_password": CHOSEN, "confirm_password": CHOSEN},
    )
    source = app.extensions["cas"].user_source
    assert not isinstance(source.authenticate("boss", CHOSEN), Success)
    assert isinstance(source.authenticate("boss", PASSWORD), Success)


def test_the_help_desk_cannot_act_on_another_help_desk_account(
    app: Flask, other_desk: Account
) -> None:
    desk = console_client(app, "desk", ("helpdesk",))
    response = _post(desk, other_desk.uuid, "lock", {"reason": "x"})
    assert "console role equal to or above yours" in text(response)
    assert _row(app, other_desk.uuid).status == "active"


def test_an_admin_cannot_act_on_another_admin_from_the_console(app: Flask, boss: Account) -> None:
    root = console_client(app, "root", ("admin",))
    more = [("lock", {"reason": "x"}), ("roles", {"remove": "admin"})]
    for slug, data in [*EVERY_ACTION[:3], *more]:
        response = _post(root, boss.uuid, slug, data)
        assert "console role equal to or above yours" in text(response), slug
    assert _row(app, boss.uuid).status == "active"
    assert app.extensions["cas"].accounts.get(boss.uuid).roles == frozenset({"admin"})


def test_an_admin_acts_on_the_help_desk_and_the_record_says_who_is_out_of_reach(
    app: Flask, boss: Account, other_desk: Account
) -> None:
    root = console_client(app, "root", ("admin",))
    assert act(root, other_desk.uuid, "lock", {"reason": "left"}).status_code == 303
    assert _row(app, other_desk.uuid).status == "locked"
    record = text(root.get(f"/admin/accounts/{boss.uuid}"))
    assert "no action on it is possible from your console" in record
    assert "Force a password change" not in record


def test_linking_needs_both_accounts_in_reach(app: Flask, boss: Account, student: Account) -> None:
    """A help desk cannot tie an admin's account to one it controls, from either end."""
    desk = console_client(app, "desk", ("helpdesk",))
    response = _post(desk, student.uuid, "link", {"other_login": "boss"})
    assert "console role equal to or above yours" in text(response)
    assert app.extensions["admin"].store.details(student.uuid).links == []


def test_the_command_line_still_acts_on_admins(app: Flask, boss: Account) -> None:
    runner = cli_runner(app)
    result = runner.invoke(args=["users", "lock", "boss"])
    assert result.exit_code == 0, result.output
    assert _row(app, boss.uuid).status == "locked"


# The owner is always told ---------------------------------------------------------------


def _mails_to(sink: SmtpSink, address: str) -> list[str]:
    return [body(m) for m in sink.wait(to=address)]


def test_a_reset_link_sent_elsewhere_is_told_to_the_owner_even_unsaved(
    app: Flask, student: Account, smtp_sink: SmtpSink
) -> None:
    desk = console_client(app, "desk", ("helpdesk",))
    done = act(desk, student.uuid, "reset-link", {"address": "new@example.org"})
    assert done.status_code == 303
    notice = _mails_to(smtp_sink, "etu@example.net")
    assert any("n***w@example.org" in b for b in notice), notice
    assert all("/sesame/password/reset/" not in b for b in notice)  # no secret (T11)


@pytest.mark.parametrize(
    ("slug", "data"),
    [
        ("lock", {"reason": "x"}),
        ("force-change", {"mode": "flag"}),
        ("end-sessions", {}),
        ("alias", {"alias": "etu-alias"}),
        ("reset-sms", {}),
    ],
)
def test_every_console_action_is_told_to_the_owner(
    app: Flask, smtp_sink: SmtpSink, slug: str, data: dict[str, str]
) -> None:
    make_account(app, "etu2", personal_email="etu2@example.net", mobile="+33612345678")
    account = app.extensions["cas"].accounts.find_by_login("etu2")
    desk = console_client(app, "desk", ("helpdesk",))
    assert act(desk, account.uuid, slug, data).status_code in (200, 303)
    assert _mails_to(smtp_sink, "etu2@example.net")


def test_a_lower_role_sees_the_admin_record_but_not_its_buttons(app: Flask, boss: Account) -> None:
    desk = console_client(app, "desk", ("helpdesk",))
    page = desk.get(f"/admin/accounts/{boss.uuid}")
    assert page.status_code == 200
    assert f"/admin/accounts/{boss.uuid}/force-change" not in page.get_data(as_text=True)
    CasBrowser(app.test_client()).login("boss", PASSWORD)  # the admin is unaffected


def test_viewing_a_record_is_audited(app: Flask, student: Account) -> None:
    desk = console_client(app, "desk", ("helpdesk",))
    assert desk.get(f"/admin/accounts/{student.uuid}").status_code == 200
    with Session(app.extensions["cas"].engine) as s:
        views = list(s.scalars(select(AuditEventRow).where(AuditEventRow.action == "admin_view")))
    assert [(v.account_uuid, v.actor, v.ip, v.outcome) for v in views] == [
        (student.uuid, "desk", "127.0.0.1", "success")
    ]
