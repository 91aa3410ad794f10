"""The console: who may enter, search, the record, and every action (confirmed, CSRF, audited)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cas_server.accounts.model import Account, Source, Status
from cas_server.storage.sql.models import AccountLinkRow, AccountRow
from tests.support.app import PASSWORD, CasBrowser, events, make_account
from tests.support.console import act, console_client, sign_in
from tests.support.html import csrf, text


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    return console_client(app)


@pytest.fixture
def camille(app: Flask) -> Account:
    return make_account(
        app,
        "camille.martin",
        given_name="Camille",
        family_name="Martin",
        personal_email="camille.martin@example.net",
        mobile="+33612345678",
        student_number="22001234",
    )


def row(app: Flask, login: str) -> AccountRow:
    with Session(app.extensions["cas"].engine) as s:
        found = s.scalars(select(AccountRow).where(AccountRow.login == login)).one()
        s.expunge(found)
        return found


# Who may enter ------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page(client: FlaskClient) -> None:
    for path in ("/admin/", "/admin/audit", "/admin/import", "/admin/services"):
        response = client.get(path)
        assert response.status_code == 302 and "/login?service=" in response.headers["Location"]


def test_accounts_without_a_console_role_get_403(app: Flask, client: FlaskClient) -> None:
    make_account(app, "alice")
    page = sign_in(client, "alice")
    assert page.status_code == 403
    assert client.get("/admin/audit").status_code == 403


def test_helpdesk_may_act_but_not_import_or_grant_roles(app: Flask, camille: Account) -> None:
    desk = console_client(app, "desk", ("helpdesk",))
    assert desk.get("/admin/").status_code == 200
    assert desk.get(f"/admin/accounts/{camille.uuid}").status_code == 200
    assert desk.get(f"/admin/accounts/{camille.uuid}/lock").status_code == 200
    assert desk.get("/admin/import").status_code == 403
    assert desk.get(f"/admin/accounts/{camille.uuid}/roles").status_code == 403
    page = desk.get(f"/admin/accounts/{camille.uuid}/lock")
    response = desk.post(
        f"/admin/accounts/{camille.uuid}/roles",
        data={"csrf_token": csrf(page.get_data(as_text=True)), "roles": "admin", "confirm": "1"},
    )
    assert response.status_code == 403
    assert row(app, "camille.martin").status == "active"
    home = text(desk.get("/admin/"))
    assert "CSV import" not in home and "Audit trail" in home


def test_the_demo_admin_reaches_the_console(app: Flask) -> None:
    from cas_server.demo.accounts import load_demo

    with app.app_context():
        list(load_demo(app.extensions["cas"]))
    client = app.test_client()
    assert sign_in(client, "admin", password="Admin-Demo-2026!").status_code == 200


def test_the_console_follows_the_public_computer_idle_timeout(admin: FlaskClient) -> None:
    with admin.session_transaction() as session:
        session["console_seen"] = 0
    assert admin.get("/admin/").status_code == 302


# Search and record --------------------------------------------------------------------


def test_search_and_open_the_record(app: Flask, admin: FlaskClient, camille: Account) -> None:
    for i in range(30):
        make_account(app, f"m{i:02d}", given_name="Marc", family_name=f"Martinez{i:02d}")
    page = admin.get("/admin/?q=mart")
    assert page.status_code == 200
    content = text(page)
    assert "Accounts found: 31" in content and "Page 1 of 2" in content
    assert "MARTIN Camille" in content  # sorted by family name: Martin before Martinez
    second = text(admin.get("/admin/?q=mart&page=2"))
    assert "Page 2 of 2" in second and "MARTINEZ29 Marc" in second
    assert "Accounts found: 1" in text(admin.get("/admin/?q=2200"))
    assert "No account starts" in text(admin.get("/admin/?q=zzz"))

    html = admin.get(f"/admin/accounts/{camille.uuid}").get_data(as_text=True)
    record = text(admin.get(f"/admin/accounts/{camille.uuid}"))
    for shown in ("camille.martin", camille.uuid, "Student", "Local", "Active", "22001234"):
        assert shown in record
    assert "c***n@example.net" in record and "06 ** ** ** 78" in record
    assert "camille.martin@example.net" not in html and "612345678" not in html
    assert "$2b$" not in html and "bcrypt" not in html  # never a hash
    assert "Active SSO sessions 0" in record


def test_record_in_french(app: Flask, admin: FlaskClient, camille: Account) -> None:
    record = text(admin.get(f"/admin/accounts/{camille.uuid}?lang=fr"))
    assert "Élève" in record and "Identifiant interne" in record and "Actif" in record
    assert "Canaux de récupération" in record


def test_unknown_record_is_404(admin: FlaskClient) -> None:
    assert admin.get("/admin/accounts/nope").status_code == 404
    assert admin.get("/admin/accounts/nope/lock").status_code == 404


# Every action asks for confirmation and a CSRF token -----------------------------------


@pytest.mark.parametrize(
    ("slug", "data"),
    [
        ("alias", {"alias": "cmartin"}),
        ("lock", {}),
        ("force-change", {"mode": "flag"}),
        ("end-sessions", {}),
        ("link", {"other_login": "root"}),
    ],
)
def test_actions_need_the_confirmation_box(
    app: Flask, admin: FlaskClient, camille: Account, slug: str, data: dict[str, Any]
) -> None:
    before = row(app, "camille.martin")
    response = act(admin, camille.uuid, slug, data, confirm=False)
    assert response.status_code == 400
    assert "Tick the box to confirm this action." in text(response)
    after = row(app, "camille.martin")
    assert (after.alias, after.status, after.must_change_password) == (
        before.alias,
        before.status,
        before.must_change_password,
    )


def test_actions_need_the_csrf_token(app: Flask, admin: FlaskClient, camille: Account) -> None:
    response = admin.post(
        f"/admin/accounts/{camille.uuid}/lock", data={"confirm": "1", "csrf_token": "forged"}
    )
    assert response.status_code == 400
    assert row(app, "camille.martin").status == "active"


# The actions ----------------------------------------------------------------------------


def test_alias_is_unique_against_logins_and_aliases(
    app: Flask, admin: FlaskClient, camille: Account
) -> None:
    make_account(app, "cmartin")
    refused = act(admin, camille.uuid, "alias", {"alias": "CMartin"})
    assert refused.status_code == 400
    assert "cmartin is already the login or alias of another account." in text(refused)
    bad = act(admin, camille.uuid, "alias", {"alias": "c martin!"})
    assert bad.status_code == 400 and "An alias is made of" in text(bad)

    done = act(admin, camille.uuid, "alias", {"alias": "Camille.M"})
    assert done.status_code == 303
    assert "The alias is now camille.m." in text(admin.get(done.headers["Location"]))
    assert row(app, "camille.martin").alias == "camille.m"
    assert CasBrowser(app.test_client()).login("camille.m", PASSWORD).status_code == 200

    other = make_account(app, "zoe")
    taken = act(admin, other.uuid, "alias", {"alias": "camille.m"})
    assert taken.status_code == 400

    cleared = act(admin, camille.uuid, "alias", {"alias": ""})
    assert cleared.status_code == 303 and row(app, "camille.martin").alias is None

    audit = events(app, "admin_alias")
    assert [e.outcome for e in audit] == ["refused", "refused", "success", "refused", "cleared"]
    success = audit[2]
    assert (success.actor, success.login, success.ip) == ("root", "camille.martin", "127.0.0.1")
    assert success.account_uuid == camille.uuid and success.details["alias"] == "camille.m"


def test_lock_ends_the_sessions_and_unlock_lets_in_again(
    app: Flask, admin: FlaskClient, camille: Account
) -> None:
    user = app.test_client()
    assert CasBrowser(user).login("camille.martin", PASSWORD).status_code == 200
    c = app.extensions["cas"]
    assert len(c.tickets.sessions_for("camille.martin", c.clock.now())) == 1
    assert "Active SSO sessions 1" in text(admin.get(f"/admin/accounts/{camille.uuid}"))

    done = act(admin, camille.uuid, "lock", {"reason": "stolen laptop"})
    assert done.status_code == 303
    assert c.tickets.sessions_for("camille.martin", c.clock.now()) == []
    assert row(app, "camille.martin").status == Status.LOCKED.value
    assert CasBrowser(app.test_client()).login("camille.martin", PASSWORD).status_code != 200
    lock = events(app, "admin_lock")[-1]
    assert lock.details["reason"] == "stolen laptop" and lock.details["sessions_ended"] == 1

    again = act(admin, camille.uuid, "lock")
    assert again.status_code == 400 and "already locked" in text(again)

    assert act(admin, camille.uuid, "unlock").status_code == 303
    assert row(app, "camille.martin").status == Status.ACTIVE.value
    assert CasBrowser(app.test_client()).login("camille.martin", PASSWORD).status_code == 200


def test_unlock_lifts_the_suspension_after_failures(
    app: Flask, admin: FlaskClient, camille: Account
) -> None:
    browser = CasBrowser(app.test_client())
    for _ in range(app.extensions["cas"].settings.login.max_failures_per_login):
        browser.login("camille.martin", "wrong")
    assert browser.login("camille.martin", PASSWORD).status_code == 429
    assert "Sign-in suspended" in text(admin.get(f"/admin/accounts/{camille.uuid}"))
    assert act(admin, camille.uuid, "unlock").status_code == 303
    assert events(app, "admin_unlock")[-1].details["throttle_cleared"] is True
    assert CasBrowser(app.test_client()).login("camille.martin", PASSWORD).status_code == 200


@pytest.mark.parametrize(
    ("signed_in_before", "after"), [(True, "active"), (False, "not_activated")]
)
def test_unlocking_a_directory_account_restores_what_it_was(
    app: Flask, admin: FlaskClient, signed_in_before: bool, after: str
) -> None:
    """Its password is in the directory: no local hash does not mean never activated."""
    from datetime import UTC, datetime

    shadow = make_account(app, "dir.person", password=None, source=Source.LDAP)
    if signed_in_before:
        app.extensions["cas"].accounts.record_login(shadow.uuid, datetime.now(UTC))
    assert act(admin, shadow.uuid, "lock").status_code == 303
    assert row(app, "dir.person").status == "locked"
    assert act(admin, shadow.uuid, "unlock").status_code == 303
    assert row(app, "dir.person").status == after


def test_admins_cannot_lock_themselves_or_drop_their_own_admin_role(
    app: Flask, admin: FlaskClient
) -> None:
    # An admin's own account is not below them: out of the console's reach
    # (issue #11, item 1); the profile and the command line remain.
    root = app.extensions["cas"].accounts.find_by_login("root")
    assert admin.get(f"/admin/accounts/{root.uuid}/lock").status_code == 403
    other = make_account(app, "someone")
    token = csrf(admin.get(f"/admin/accounts/{other.uuid}/lock").get_data(as_text=True))
    for slug in ("lock", "roles"):
        refused = admin.post(
            f"/admin/accounts/{root.uuid}/{slug}",
            data={"csrf_token": token, "confirm": "1", "remove": "admin"},
        )
        assert refused.status_code == 400 and "equal to or above yours" in text(refused)
    assert app.extensions["cas"].accounts.get(root.uuid).roles == frozenset({"admin"})


def test_force_change_flag_only(app: Flask, admin: FlaskClient, camille: Account) -> None:
    assert act(admin, camille.uuid, "force-change", {"mode": "flag"}).status_code == 303
    assert row(app, "camille.martin").must_change_password is True
    response = CasBrowser(app.test_client()).login("camille.martin", PASSWORD)
    assert response.status_code == 303 and "/login/password" in response.headers["Location"]


def test_temporary_password_must_follow_the_policy(
    app: Flask, admin: FlaskClient, camille: Account
) -> None:
    weak = act(
        admin,
        camille.uuid,
        "force-change",
        {"mode": "typed", "new_password": "short", "confirm_password": "short"},
    )
    assert weak.status_code == 400 and "The password was not accepted" in text(weak)
    mismatch = act(
        admin,
        camille.uuid,
        "force-change",
        {"mode": "typed", "new_password": "Temporaire-2026!", "confirm_password": "other"},
    )
    assert mismatch.status_code == 400 and "The two passwords are different." in text(mismatch)
    assert row(app, "camille.martin").must_change_password is False


def test_end_sessions(app: Flask, admin: FlaskClient, camille: Account) -> None:
    for _ in range(2):
        CasBrowser(app.test_client()).login("camille.martin", PASSWORD)
    done = act(admin, camille.uuid, "end-sessions")
    assert "2 SSO sessions ended." in text(admin.get(done.headers["Location"]))
    c = app.extensions["cas"]
    assert c.tickets.sessions_for("camille.martin", c.clock.now()) == []


def test_sessions_page_counts_per_account(app: Flask, admin: FlaskClient, camille: Account) -> None:
    for _ in range(3):
        CasBrowser(app.test_client()).login("camille.martin", PASSWORD)
    page = text(admin.get("/admin/sessions"))
    # The console's own sign-in is an SSO session of root too.
    assert "4 active sessions for 2 accounts." in page
    assert "camille.martin Camille Martin 3" in page


def test_link_and_unlink_two_accounts(app: Flask, admin: FlaskClient, camille: Account) -> None:
    parent = make_account(app, "c.martin.parent", given_name="Camille", family_name="Martin")
    unknown = act(admin, camille.uuid, "link", {"other_login": "nobody"})
    assert unknown.status_code == 400 and "No account has the login or alias nobody." in text(
        unknown
    )
    itself = act(admin, camille.uuid, "link", {"other_login": "camille.martin"})
    assert itself.status_code == 400 and "cannot be linked to itself" in text(itself)

    assert act(admin, camille.uuid, "link", {"other_login": "c.martin.parent"}).status_code == 303
    record = text(admin.get(f"/admin/accounts/{camille.uuid}"))
    assert "c.martin.parent" in record and "linked to this one" in record
    assert "primary account of this one" in text(admin.get(f"/admin/accounts/{parent.uuid}"))
    twice = act(admin, camille.uuid, "link", {"other_login": "c.martin.parent"})
    assert twice.status_code == 400 and "already linked" in text(twice)

    assert act(admin, parent.uuid, "unlink", other=camille.uuid).status_code == 303
    with Session(app.extensions["cas"].engine) as s:
        assert s.scalars(select(AccountLinkRow)).all() == []
    assert [e.outcome for e in events(app, "admin_unlink")] == ["success", "success"]


def test_roles_granted_and_revoked_by_an_admin(
    app: Flask, admin: FlaskClient, camille: Account
) -> None:
    assert act(admin, camille.uuid, "roles", {"roles": "helpdesk"}).status_code == 303
    assert app.extensions["cas"].accounts.get(camille.uuid).roles == frozenset({"helpdesk"})
    desk = app.test_client()
    assert sign_in(desk, "camille.martin").status_code == 200
    assert act(admin, camille.uuid, "roles", {}).status_code == 303
    assert app.extensions["cas"].accounts.get(camille.uuid).roles == frozenset()
    assert desk.get("/admin/").status_code == 403  # the role is read on every request
    audit = events(app, "admin_roles")
    assert audit[0].details["added"] == ["helpdesk"] and audit[1].details["removed"] == ["helpdesk"]


def test_services_page_shows_the_policies(admin: FlaskClient) -> None:
    page = text(admin.get("/admin/services"))
    assert "Registered services" in page and "Attributes released" in page
    assert "cas-internal" in page  # the built-in service of these pages
