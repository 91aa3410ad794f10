"""The console and a person's second factor (issue #14): the record shows it without a
secret; the help desk removes one factor or all of them ("lost phone"), checked against
the actor's role and the target's rank, CSRF-protected, audited, and told to the owner."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cas_server.accounts.mfa.model import Factor, FactorKind
from cas_server.accounts.model import Account
from cas_server.storage.sql.models import AuditEventRow
from tests.support.console import act, console_client
from tests.support.html import csrf, text
from tests.support.outbound import SmtpSink, body

SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXQ"
CREDENTIAL_ID = b"\x8fcredential-id-of-the-key\x01"
PUBLIC_KEY = b"\xa5\x01\x02\x03\x26public-key-bytes-of-the-key"


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**sesame_overrides, "charters": {"path": ""}}


def _make(app: Flask, login: str, **fields: Any) -> Account:
    from tests.support.app import make_account

    return make_account(app, login, personal_email=f"{login}@example.net", **fields)


def _enrol(app: Flask, account: Account, label: str = "Téléphone", seed: str = SEED) -> Factor:
    return app.extensions["cas"].mfa.import_totp(account, label, seed)


def _key(app: Flask, account: Account) -> Factor:
    factor = Factor(
        id=str(uuid.uuid4()),
        account_uuid=account.uuid,
        kind=FactorKind.WEBAUTHN,
        label="YubiKey bleue",
        created_at=time.time(),
        credential_id=CREDENTIAL_ID,
        public_key=PUBLIC_KEY,
        sign_count=3,
        transports=("usb",),
    )
    app.extensions["cas"].mfa.store.add_factor(factor)
    return factor


def _factors(app: Flask, account: Account) -> list[Factor]:
    return app.extensions["cas"].mfa.factors(account)


def _events(app: Flask, action: str = "admin_mfa_remove") -> list[AuditEventRow]:
    with Session(app.extensions["cas"].engine) as s:
        return list(s.scalars(select(AuditEventRow).where(AuditEventRow.action == action)))


def _details(event: AuditEventRow) -> dict[str, Any]:
    raw = event.details
    return json.loads(raw) if isinstance(raw, str) else dict(raw or {})


def _forged_post(client: FlaskClient, uuid_: str, slug: str, data: dict[str, str]) -> Any:
    """A POST with a valid CSRF token taken from a page the operator may open."""
    app = client.application
    bystander = app.extensions["cas"].accounts.find_by_login("bystander") or _make(app, "bystander")
    token = csrf(client.get(f"/admin/accounts/{bystander.uuid}/lock").get_data(as_text=True))
    return client.post(
        f"/admin/accounts/{uuid_}/{slug}", data={"csrf_token": token, "confirm": "1", **data}
    )


# What the record shows ----------------------------------------------------------------


def test_the_record_lists_factors_without_any_secret(app: Flask) -> None:
    student = _make(app, "etu")
    totp_factor = _enrol(app, student)
    _key(app, student)
    desk = console_client(app, "desk", ("helpdesk",))
    page = desk.get(f"/admin/accounts/{student.uuid}")
    html, words = page.get_data(as_text=True), text(page)
    assert page.status_code == 200
    assert "Téléphone" in words and "YubiKey bleue" in words
    assert "Authenticator app or token (TOTP)" in words and "Security key or passkey" in words
    assert "Recovery codes left 0" in words and "Trusted devices 0" in words
    assert totp_factor.secret is not None
    for secret in (SEED, SEED.lower(), totp_factor.secret.decode("ascii")):
        assert secret not in html
    for raw in (CREDENTIAL_ID, PUBLIC_KEY):
        for shown in (
            raw.hex(),
            base64.b64encode(raw).decode(),
            base64.urlsafe_b64encode(raw).decode().rstrip("="),
            raw.decode("latin-1"),
        ):
            assert shown not in html
    assert f"/admin/accounts/{student.uuid}/mfa-remove?factor={totp_factor.id}" in html
    assert f"/admin/accounts/{student.uuid}/mfa-remove-all" in html


def test_the_record_in_french(app: Flask) -> None:
    student = _make(app, "etu")
    _enrol(app, student)
    desk = console_client(app, "desk", ("helpdesk",))
    words = text(desk.get(f"/admin/accounts/{student.uuid}?lang=fr"))
    assert "Second facteur" in words and "Codes de secours restants" in words


# The help desk removes a student's factor ------------------------------------------------


def test_helpdesk_removes_one_factor_of_a_student(app: Flask, smtp_sink: SmtpSink) -> None:
    student = _make(app, "etu")
    phone = _enrol(app, student)
    key = _key(app, student)
    desk = console_client(app, "desk", ("helpdesk",))
    done = act(desk, student.uuid, "mfa-remove", factor=phone.id)
    assert done.status_code == 303, done.get_data(as_text=True)[:600]
    assert [f.id for f in _factors(app, student)] == [key.id]
    (event,) = _events(app)
    assert (event.outcome, event.actor, event.ip, event.account_uuid) == (
        "success",
        "desk",
        "127.0.0.1",
        student.uuid,
    )
    details = _details(event)
    assert details["kind"] == "totp" and details["label"] == "Téléphone"
    assert details["operator"] == "desk" and details["scope"] == "one"
    (notice,) = [body(m) for m in smtp_sink.wait(to="etu@example.net")]
    assert "Téléphone" in notice and "etu" in notice
    assert SEED not in notice


def test_helpdesk_removes_all_factors_lost_phone(app: Flask, smtp_sink: SmtpSink) -> None:
    student = _make(app, "etu")
    c = app.extensions["cas"]
    c.mfa.store.replace_recovery_codes(student.uuid, ["h1", "h2"], time.time())
    _enrol(app, student)
    _key(app, student)
    desk = console_client(app, "desk", ("helpdesk",))
    page = text(desk.get(f"/admin/accounts/{student.uuid}/mfa-remove-all"))
    assert "Téléphone" in page and "YubiKey bleue" in page and "2 recovery codes left" in page
    done = act(desk, student.uuid, "mfa-remove-all")
    assert done.status_code == 303
    assert _factors(app, student) == [] and c.mfa.recovery_codes_left(student) == 0
    (event,) = _events(app)
    details = _details(event)
    assert event.outcome == "success" and details["scope"] == "all" and details["removed"] == 2
    assert details["kinds"] == ["totp", "webauthn"] and details["operator"] == "desk"
    assert smtp_sink.wait(to="etu@example.net")
    assert "no second factor" in text(desk.get(f"/admin/accounts/{student.uuid}")).casefold()


def test_remove_all_without_any_factor_is_refused(app: Flask) -> None:
    student = _make(app, "etu")
    desk = console_client(app, "desk", ("helpdesk",))
    response = act(desk, student.uuid, "mfa-remove-all")
    assert response.status_code == 400
    assert [e.outcome for e in _events(app)] == ["refused"]


# The target rule: never an equal or higher rank -----------------------------------------


@pytest.mark.parametrize("roles", [["admin"], ["helpdesk"]])
def test_helpdesk_cannot_remove_an_operators_factor(app: Flask, roles: list[str]) -> None:
    target = _make(app, "op", roles=roles)
    factor = _enrol(app, target)
    desk = console_client(app, "desk", ("helpdesk",))
    assert (
        desk.get(f"/admin/accounts/{target.uuid}/mfa-remove?factor={factor.id}").status_code == 403
    )
    assert desk.get(f"/admin/accounts/{target.uuid}/mfa-remove-all").status_code == 403
    record = desk.get(f"/admin/accounts/{target.uuid}").get_data(as_text=True)
    assert "mfa-remove" not in record
    one = _forged_post(desk, target.uuid, "mfa-remove", {"factor": factor.id})
    every = _forged_post(desk, target.uuid, "mfa-remove-all", {})
    assert one.status_code == 400 and every.status_code == 400
    assert [f.id for f in _factors(app, target)] == [factor.id]
    refused = _events(app)
    assert [(e.outcome, e.actor, e.account_uuid) for e in refused] == [
        ("refused", "desk", target.uuid)
    ] * 2


def test_an_admin_cannot_remove_another_admins_factor(app: Flask) -> None:
    peer = _make(app, "peer", roles=["admin"])
    factor = _enrol(app, peer)
    root = console_client(app)
    assert _forged_post(root, peer.uuid, "mfa-remove-all", {}).status_code == 400
    assert [f.id for f in _factors(app, peer)] == [factor.id]
    assert [e.outcome for e in _events(app)] == ["refused"]


def test_an_admin_removes_a_helpdesk_operators_factor(app: Flask) -> None:
    desk = _make(app, "desk2", roles=["helpdesk"])
    factor = _enrol(app, desk)
    root = console_client(app)
    assert act(root, desk.uuid, "mfa-remove", factor=factor.id).status_code == 303
    assert _factors(app, desk) == []


def test_a_factor_id_of_someone_else_does_nothing(app: Flask) -> None:
    """The target is the record's account: an id of another person's factor (one the
    operator may not touch, or any other) is not found there, whatever the URL says."""
    student = _make(app, "etu")
    boss = _make(app, "boss", roles=["admin"])
    boss_factor = _enrol(app, boss, seed="KRSXG5CTMVRXEZLUKN2XAZLSKNSWG4TF")
    _enrol(app, student)
    desk = console_client(app, "desk", ("helpdesk",))
    assert (
        desk.get(f"/admin/accounts/{student.uuid}/mfa-remove?factor={boss_factor.id}").status_code
        == 404
    )
    response = _forged_post(desk, student.uuid, "mfa-remove", {"factor": boss_factor.id})
    assert response.status_code == 400
    assert "does not exist" in text(response)
    assert [f.id for f in _factors(app, boss)] == [boss_factor.id]
    assert len(_factors(app, student)) == 1
    (event,) = _events(app)
    assert event.outcome == "refused" and event.account_uuid == student.uuid
    assert _details(event)["factor_id"] == boss_factor.id


# Forms --------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["mfa-remove", "mfa-remove-all"])
def test_csrf_missing_is_refused(app: Flask, slug: str) -> None:
    student = _make(app, "etu")
    factor = _enrol(app, student)
    desk = console_client(app, "desk", ("helpdesk",))
    response = desk.post(
        f"/admin/accounts/{student.uuid}/{slug}", data={"confirm": "1", "factor": factor.id}
    )
    assert response.status_code == 400
    assert len(_factors(app, student)) == 1 and _events(app) == []


def test_the_confirmation_is_required(app: Flask) -> None:
    student = _make(app, "etu")
    factor = _enrol(app, student)
    desk = console_client(app, "desk", ("helpdesk",))
    response = act(desk, student.uuid, "mfa-remove", confirm=False, factor=factor.id)
    assert response.status_code == 400 and "Tick the box" in text(response)
    assert len(_factors(app, student)) == 1


def test_a_removed_factor_no_longer_verifies(app: Flask) -> None:
    student = _make(app, "etu")
    factor = _enrol(app, student)
    desk = console_client(app, "desk", ("helpdesk",))
    assert act(desk, student.uuid, "mfa-remove", factor=factor.id).status_code == 303
    assert app.extensions["cas"].mfa.verify_totp(student, pyotp.TOTP(SEED).now()) is None


def test_the_audit_page_names_the_removal(app: Flask) -> None:
    student = _make(app, "etu")
    factor = _enrol(app, student)
    root = console_client(app)
    act(root, student.uuid, "mfa-remove", factor=factor.id)
    words = text(root.get("/admin/audit?action=admin_mfa_remove"))
    assert "Console: Second factor removed" in words
