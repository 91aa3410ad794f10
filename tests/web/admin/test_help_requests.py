"""The console's "Demandes d'assistance" (#16): the queue, linking a request to an
account from the search, acting from the record, answering by mail, closing, roles,
target rule, CSRF, the purge after retention; mails through the real SMTP sink."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from cas_server.accounts.help_requests import Case, Draft, HelpRequest
from cas_server.storage.sql.models import HelpRequestRow
from tests.support.app import events, make_account, rows
from tests.support.console import act, console_client
from tests.support.html import csrf
from tests.support.outbound import SmtpSink, body, link_in
from tests.support.sesame import SesameBrowser, drained

DAY = 86400.0
PARENT = "nadia@parents.example.org"


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**sesame_overrides, "charters": {"path": ""}, "help_requests": {"enabled": True}}


def _draft(**changes: Any) -> Draft:
    values: dict[str, Any] = {
        "requester_name": "Nadia Benali",
        "child_name": "Inès Benali",
        "school": "Collège Jean Moulin",
        "login_hint": "ines.benali",
        "contact_email": PARENT,
        "contact_phone": None,
        "case": Case.FORGOT_ADDRESS,
        "text": "Je ne sais plus quelle adresse j'ai donnée.",
    }
    return Draft(**{**values, **changes})


def _create(app: Flask, **changes: Any) -> HelpRequest:
    store = app.extensions["help_requests"].store
    request: HelpRequest = store.create(_draft(**changes), "fr", app.extensions["cas"].clock.now())
    return request


def _post(client: FlaskClient, request: HelpRequest, step: str, **data: str) -> Any:
    page = client.get(f"/admin/help-requests/{request.id}").get_data(as_text=True)
    if "csrf_token" not in page:  # a closed request's page has no form: the session's token
        page = client.get("/login?renew=true").get_data(as_text=True)
    return client.post(
        f"/admin/help-requests/{request.id}/{step}", data={"csrf_token": csrf(page), **data}
    )


@pytest.fixture
def desk(app: Flask) -> FlaskClient:
    return console_client(app, "desk", roles=("helpdesk",))


@pytest.fixture
def ines(app: Flask) -> Any:
    return make_account(
        app,
        "ines.benali",
        given_name="Inès",
        family_name="Benali",
        personal_email="old@example.org",
    )


def test_a_parents_request_is_linked_acted_on_answered_and_closed(
    app: Flask, desk: FlaskClient, ines: Any, smtp_sink: SmtpSink
) -> None:
    """The issue's walk: the parent writes, the help desk links, acts, answers, closes."""
    parent = app.test_client()
    sent = SesameBrowser(parent, "fr").submit(
        "/sesame/help-request",
        {
            "requester_name": "Nadia Benali",
            "child_name": "Inès Benali",
            "school": "Collège Jean Moulin",
            "login_hint": "ines.benali",
            "contact_email": PARENT,
            "case": "forgot_address",
            "text": "Je ne sais plus quelle adresse j'ai donnée.",
        },
    )
    assert sent.status_code == 200
    reference = re.search(r"HR-[A-Z0-9]{6}", sent.get_data(as_text=True)).group(0)  # type: ignore[union-attr]
    drained(app)
    assert reference in body(smtp_sink.wait(1, to=PARENT)[0])

    desk.get("/login?lang=fr")
    queue = desk.get("/admin/help-requests").get_data(as_text=True)
    assert "Demandes d'assistance" in queue and reference in queue
    (row,) = rows(app, HelpRequestRow)
    page = desk.get(f"/admin/help-requests/{row.id}").get_data(as_text=True)
    # The console's search, started with the login the parent gave, finds the account.
    assert "Rattacher à ines.benali" in page

    request = app.extensions["help_requests"].store.get(row.id)
    assert _post(desk, request, "assign").status_code == 303
    assert _post(desk, request, "link", account=ines.uuid).status_code == 303
    page = desk.get(f"/admin/help-requests/{row.id}").get_data(as_text=True)
    assert f"/admin/accounts/{ines.uuid}/reset-link" in page

    # Act from the record's own action: a reset link to the address the parent gave.
    done = act(desk, ines.uuid, "reset-link", {"address": PARENT})
    assert done.status_code == 303
    drained(app)
    reset = smtp_sink.wait(2, to=PARENT)[-1]
    assert "/sesame/" in link_in(reset)

    canned = desk.get(f"/admin/help-requests/{row.id}?canned=reset_link_sent")
    text = canned.get_data(as_text=True)
    assert "Nous avons trouvé le compte" in text  # the requester's language (fr)
    answer = (
        "Bonjour,\n\nNous avons trouvé le compte et envoyé un lien de réinitialisation "
        "à l'adresse que vous avez donnée."
    )
    answered = _post(desk, request, "answer", template="reset_link_sent", answer=answer)
    assert answered.status_code == 303
    drained(app)
    mail = smtp_sink.wait(3, to=PARENT)[-1]
    assert reference in str(mail["Subject"]) and "Nous avons trouvé le compte" in body(mail)

    assert _post(desk, request, "close", note="Lien envoyé").status_code == 303
    (row,) = rows(app, HelpRequestRow)
    assert row.status == "done" and row.account_uuid == ines.uuid and row.closed_at
    assert row.assigned_to == "desk" and row.answer.startswith("Bonjour")

    for step in ("assign", "link", "answer", "close", "view"):
        found = events(app, f"help_request_{step}")
        assert found and found[-1].actor == "desk", step
        assert found[-1].details["reference"] == reference
    assert events(app, "help_request_link")[-1].account_uuid == ines.uuid

    record = desk.get(f"/admin/accounts/{ines.uuid}").get_data(as_text=True)
    assert "Demandes d'assistance concernant ce compte" in record and reference in record


def test_the_free_text_is_shown_escaped(app: Flask, desk: FlaskClient) -> None:
    request = _create(app, text='<script>alert("x")</script>\n<b>bold</b>')
    page = desk.get(f"/admin/help-requests/{request.id}").get_data(as_text=True)
    assert "<script>alert" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;<br>&lt;b&gt;bold&lt;/b&gt;" in page


def test_people_without_a_console_role_are_refused(app: Flask) -> None:
    request = _create(app)
    client = console_client(app, "pupil", roles=())
    assert client.get("/admin/help-requests").status_code == 403
    assert client.get(f"/admin/help-requests/{request.id}").status_code == 403


def test_no_request_is_tied_to_an_account_the_operator_cannot_act_on(
    app: Flask, desk: FlaskClient
) -> None:
    """The target rule: the help desk does not reach an administrator's account."""
    boss = make_account(app, "boss", roles=["admin"], given_name="Big", family_name="Boss")
    request = _create(app)
    assert _post(desk, request, "link", account=boss.uuid).status_code == 403
    (row,) = rows(app, HelpRequestRow)
    assert row.account_uuid is None
    (refused,) = events(app, "help_request_link")
    assert refused.outcome == "refused" and refused.actor == "desk"
    # An administrator's console may link it to the help desk's own account, not its peer's.
    admin = console_client(app, "root", roles=("admin",))
    assert _post(admin, request, "link", account=boss.uuid).status_code == 403


def test_every_step_needs_its_csrf_token(app: Flask, desk: FlaskClient) -> None:
    request = _create(app)
    for step in ("assign", "link", "answer", "close"):
        answer = desk.post(f"/admin/help-requests/{request.id}/{step}", data={"answer": "x"})
        assert answer.status_code == 400, step
    assert rows(app, HelpRequestRow)[0].status == "new"


def test_a_closed_request_cannot_change(app: Flask, desk: FlaskClient, ines: Any) -> None:
    request = _create(app)
    assert _post(desk, request, "close").status_code == 303
    assert _post(desk, request, "assign").status_code == 409
    assert _post(desk, request, "answer", answer="Bonjour").status_code == 409
    assert _post(desk, request, "link", account=ines.uuid).status_code == 409
    assert rows(app, HelpRequestRow)[0].account_uuid is None


def test_no_address_no_mail_and_an_empty_answer_is_refused(app: Flask, desk: FlaskClient) -> None:
    by_phone = _create(app, contact_email=None, contact_phone="01 64 14 77 77")
    page = desk.get(f"/admin/help-requests/{by_phone.id}").get_data(as_text=True)
    assert "01 64 14 77 77" in page
    assert _post(desk, by_phone, "answer", answer="Bonjour").status_code == 400
    by_mail = _create(app)
    assert _post(desk, by_mail, "answer", answer="   ").status_code == 400
    assert _post(desk, by_mail, "answer", answer="x" * 4001).status_code == 400
    assert _post(desk, by_mail, "answer", template="nope", answer="Bonjour").status_code == 400


def test_the_queue_filters_and_speaks_both_languages(app: Flask, desk: FlaskClient) -> None:
    first, second = _create(app), _create(app)
    assert _post(desk, second, "close").status_code == 303
    desk.get("/admin/")  # the flashed message shown
    desk.get("/login?lang=en")
    open_page = desk.get("/admin/help-requests").get_data(as_text=True)
    assert "Help requests" in open_page
    assert first.reference in open_page and second.reference not in open_page
    done = desk.get("/admin/help-requests?status=done").get_data(as_text=True)
    assert second.reference in done and first.reference not in done
    desk.get("/login?lang=fr")
    assert "Nouvelles (1)" in desk.get("/admin/help-requests").get_data(as_text=True)


def test_purge_removes_requests_closed_past_the_retention(
    app: Flask, desk: FlaskClient, runner: Any
) -> None:
    now = app.extensions["cas"].clock.now()
    old, recent, still_open = _create(app), _create(app), _create(app)
    for request in (old, recent):
        assert _post(desk, request, "close").status_code == 303
    engine = app.extensions["cas"].engine
    with engine.begin() as conn:
        conn.execute(
            update(HelpRequestRow)
            .where(HelpRequestRow.id == old.id)
            .values(closed_at=now - 91 * DAY)
        )
        conn.execute(
            update(HelpRequestRow)
            .where(HelpRequestRow.id == recent.id)
            .values(closed_at=now - 89 * DAY)
        )
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert "1 closed help request(s)" in result.output
    assert {r.id for r in rows(app, HelpRequestRow)} == {recent.id, still_open.id}
    assert events(app, "help_request_purge")[0].details["count"] == 1


def test_turned_off_the_console_has_no_queue(app: Flask, desk: FlaskClient) -> None:
    request = _create(app)
    helpdesk = app.extensions["help_requests"]
    helpdesk.settings = replace(helpdesk.settings, enabled=False)
    assert desk.get("/admin/help-requests").status_code == 404
    assert desk.get(f"/admin/help-requests/{request.id}").status_code == 404
    assert "/admin/help-requests" not in desk.get("/admin/").get_data(as_text=True)
