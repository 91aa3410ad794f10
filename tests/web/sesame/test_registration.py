""" "Créer un compte" (Metamots, #16 part 1), through a real SMTP server.

Abuse cases first: T1 (the same bytes for a new, a used and a refused address),
the link used once (a replay, a burst of confirmations in parallel: one account),
its expiry, the limits per address and per network, CSRF; then the way through in
both languages, ending with a sign-in with the new account.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from cas_server.accounts.model import Profile, Status
from cas_server.storage.sql.models import AccountRow, RegistrationRequestRow
from tests.support.app import CasBrowser, events, make_account, rows
from tests.support.html import csrf, text, without_csrf
from tests.support.outbound import SmtpSink
from tests.support.registration import (
    PASSWORD,
    START,
    confirm_path,
    form,
    mail_text,
    register,
    registration_overrides,
)
from tests.support.sesame import SesameBrowser, drained

REFUSED_DOMAIN = "univ-test.fr"


@pytest.fixture
def app_overrides(sesame_overrides: dict[str, Any], request: pytest.FixtureRequest) -> Any:
    extra = getattr(request, "param", {})
    return registration_overrides(
        sesame_overrides,
        denied_domains=[REFUSED_DOMAIN],
        attributes={"supannOrganisme": "EXT"},
        **extra,
    )


def accounts_with(app: Flask, email: str) -> list[AccountRow]:
    return rows(app, AccountRow, personal_email=email)


def confirm(client: FlaskClient, path: str) -> Any:
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return client.post(path, data={"csrf_token": csrf(page.get_data(as_text=True))})


# T1 -----------------------------------------------------------------------------------------


def test_same_bytes_for_new_used_and_refused_addresses(
    app: Flask, sesame_client: FlaskClient, smtp_sink: SmtpSink
) -> None:
    make_account(app, "owner", personal_email="owner@example.net")
    browser = SesameBrowser(sesame_client, "fr")
    answers = []
    for email in ("new@example.net", "owner@example.net", f"someone@{REFUSED_DOMAIN}"):
        response = register(browser, email)
        answers.append((response.status_code, without_csrf(response.get_data(as_text=True))))
    assert answers[0][0] == 200
    assert answers[0] == answers[1] == answers[2]
    assert "Demande prise en compte" in answers[0][1]
    assert "new@example.net" not in answers[0][1]

    # What tells them apart went by mail, to each address's owner only.
    drained(app, smtp_sink)
    subject, link_body = mail_text(app, smtp_sink, "new@example.net")
    assert subject == "Confirmez la création de votre compte"
    assert "/sesame/register/confirm/" in link_body
    subject, exists_body = mail_text(app, smtp_sink, "owner@example.net")
    assert subject == "Demande de création de compte pour votre adresse"
    assert "a déjà un compte" in exists_body and "/sesame/password" in exists_body
    assert "/sesame/register/confirm/" not in exists_body
    subject, refused_body = mail_text(app, smtp_sink, f"someone@{REFUSED_DOMAIN}")
    assert subject == "Demande de création de compte"
    assert "ce domaine" in refused_body and "/register/confirm/" not in refused_body
    # One request only: the used and refused addresses left nothing behind.
    assert [r.email for r in rows(app, RegistrationRequestRow)] == ["new@example.net"]
    outcomes = sorted(e.outcome for e in events(app, "sesame_registration"))
    assert outcomes == ["address_in_use", "domain_refused", "link_mailed"]
    assert len(accounts_with(app, "new@example.net")) == 0  # nothing before the link


# The link: once, 24 h, in a burst ------------------------------------------------------------


def test_a_replayed_link_creates_nothing_more(
    app: Flask, sesame_client: FlaskClient, smtp_sink: SmtpSink
) -> None:
    browser = SesameBrowser(sesame_client, "en")
    register(browser, "jean@example.net")
    path = confirm_path(app, smtp_sink, "jean@example.net")
    assert confirm(sesame_client, path).status_code == 200
    again = sesame_client.get(path)
    assert again.status_code == 410
    replay = sesame_client.post(path, data={"csrf_token": csrf(browser.page(START)[0])})
    assert replay.status_code == 410
    assert len(accounts_with(app, "jean@example.net")) == 1
    assert [e.outcome for e in events(app, "sesame_registration_confirm")] == [
        "created",
        "link_expired",
    ]


def test_the_get_of_the_link_changes_nothing(
    app: Flask, sesame_client: FlaskClient, smtp_sink: SmtpSink
) -> None:
    """A mail scanner follows links: only the button's POST creates the account."""
    register(SesameBrowser(sesame_client, "en"), "jean@example.net")
    path = confirm_path(app, smtp_sink, "jean@example.net")
    for _ in range(3):
        assert sesame_client.get(path).status_code == 200
    assert accounts_with(app, "jean@example.net") == []
    assert rows(app, RegistrationRequestRow)[0].status == "mailed"


def test_an_expired_link_and_a_forged_one_are_refused(
    app: Flask, sesame_client: FlaskClient, smtp_sink: SmtpSink
) -> None:
    register(SesameBrowser(sesame_client, "en"), "jean@example.net")
    path = confirm_path(app, smtp_sink, "jean@example.net")
    with app.extensions["cas"].engine.begin() as conn:
        conn.execute(
            update(RegistrationRequestRow.__table__).values(
                expires_at=datetime.now(UTC) - timedelta(seconds=1)
            )
        )
    assert sesame_client.get(path).status_code == 410
    assert sesame_client.get("/sesame/register/confirm/" + "A" * 43).status_code == 410
    assert sesame_client.get("/sesame/register/confirm/short").status_code == 410
    assert accounts_with(app, "jean@example.net") == []


def test_a_burst_of_confirmations_creates_one_account(
    app: Flask, sesame_client: FlaskClient, smtp_sink: SmtpSink
) -> None:
    register(SesameBrowser(sesame_client, "en"), "jean@example.net")
    path = confirm_path(app, smtp_sink, "jean@example.net")
    clients = []
    for _ in range(8):
        client = app.test_client()
        page = client.get(path)
        assert page.status_code == 200
        clients.append((client, csrf(page.get_data(as_text=True))))
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def go(client: FlaskClient, token: str) -> None:
        barrier.wait()
        statuses.append(client.post(path, data={"csrf_token": token}).status_code)

    threads = [threading.Thread(target=go, args=pair) for pair in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [200] + [410] * 7
    assert len(accounts_with(app, "jean@example.net")) == 1
    assert len(rows(app, AccountRow, login="jean.dupont")) == 1
    drained(app, smtp_sink)
    assert len(smtp_sink.wait(2, to="jean@example.net")) == 2  # the link, one welcome


def test_two_links_for_one_address_make_one_account(
    app: Flask, sesame_client: FlaskClient, smtp_sink: SmtpSink
) -> None:
    browser = SesameBrowser(sesame_client, "en")
    register(browser, "jean@example.net")
    register(browser, "jean@example.net")
    first = confirm_path(app, smtp_sink, "jean@example.net", 1)
    second = confirm_path(app, smtp_sink, "jean@example.net", 2)
    assert confirm(sesame_client, second).status_code == 200
    assert sesame_client.get(first).status_code == 410  # died with the other
    assert len(accounts_with(app, "jean@example.net")) == 1


# Limits ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "app_overrides", [{"max_requests_per_address": 2, "max_requests_per_network": 4}], indirect=True
)
def test_limits_per_address_then_per_network(
    app: Flask, sesame_client: FlaskClient, smtp_sink: SmtpSink
) -> None:
    browser = SesameBrowser(sesame_client, "en")
    pages = [register(browser, "jean@example.net") for _ in range(3)]
    # The address's third request gets the same page, and no mail.
    assert [p.status_code for p in pages] == [200, 200, 200]
    assert without_csrf(pages[2].get_data(as_text=True)) == without_csrf(
        pages[0].get_data(as_text=True)
    )
    drained(app, smtp_sink)
    assert len([m for m in smtp_sink.delivered() if "jean@" in str(m["To"])]) == 2
    assert [e.outcome for e in events(app, "sesame_registration")].count("rate_limited") == 1
    # The network's fifth request (any address) is refused before anything is read.
    assert register(browser, "other@example.net").status_code == 200
    refused = register(browser, "third@example.net")
    assert refused.status_code == 429
    assert "third@example.net" not in [r.email for r in rows(app, RegistrationRequestRow)]
    # Another network is not held back (the /24 is what is counted).
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "198.51.100.9"
    assert register(SesameBrowser(other, "en"), "third@example.net").status_code == 200


# Bad input ------------------------------------------------------------------------------------


def test_bad_fields_are_shown_and_nothing_is_sent(
    app: Flask, sesame_client: FlaskClient, smtp_sink: SmtpSink
) -> None:
    browser = SesameBrowser(sesame_client, "en")
    bad = browser.submit(
        START,
        form(
            "not-an-address",
            country="XX",
            organisation_type="pirate",
            new_password="short",
            confirm_password="short",
            charter="",
        ),
    )
    assert bad.status_code == 400
    page = text(bad)
    assert "Enter an e-mail address such as name@example.org." in page
    assert "Choose a country from the list." in page
    assert "Choose an organisation type from the list." in page
    assert "The password does not follow the rules below." in page
    # The password rules know the login to be: it may not contain it.
    weak = browser.submit(
        START,
        form(
            "jean@example.net",
            new_password="jean.dupont-2027-Xy!",
            confirm_password="jean.dupont-2027-Xy!",
        ),
    )
    assert weak.status_code == 400
    assert 'data-login="jean.dupont"' in weak.get_data(as_text=True)
    no_csrf = sesame_client.post(START, data=form("jean@example.net"))
    assert no_csrf.status_code == 400
    wrong_check = sesame_client.post(
        START,
        data={
            **form("jean@example.net"),
            "csrf_token": browser.page(START)[1]["csrf_token"],
            "captcha": "question",
            "captcha_answer": "wrong",
        },
    )
    assert wrong_check.status_code == 400
    drained(app, smtp_sink)
    assert smtp_sink.delivered() == []
    assert rows(app, RegistrationRequestRow) == []


# The way through ------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_create_an_account_and_sign_in_with_it(
    app: Flask, sesame_client: FlaskClient, smtp_sink: SmtpSink, lang: str
) -> None:
    make_account(app, "eloise.le-goff", personal_email="other@example.org")  # a namesake
    browser = SesameBrowser(sesame_client, lang)
    login_page = sesame_client.get("/login").get_data(as_text=True)
    assert ("Créer un compte" if lang == "fr" else "Create an account") in login_page
    assert 'href="/sesame/register"' in login_page
    html, _ = browser.page(START)
    assert 'data-policy="' in html and 'name="captcha_answer"' in html
    assert 'data-rule="history"' not in html  # a new account has no former password
    assert 'name="organisation_type"' in html and 'name="country"' in html

    sent = register(browser, "eloise@example.net", given="Éloïse", family="Le Goff")
    assert sent.status_code == 200
    path = confirm_path(app, smtp_sink, "eloise@example.net")
    page = sesame_client.get(path)
    assert "eloise@example.net" in page.get_data(as_text=True)
    done = sesame_client.post(path, data={"csrf_token": csrf(page.get_data(as_text=True))})
    assert done.status_code == 200
    shown = text(done)
    assert "eloise.le-goff2" in shown  # transliterated, a number on collision
    assert ("Votre compte est prêt" if lang == "fr" else "Your account is ready") in shown

    subject, welcome = mail_text(app, smtp_sink, "eloise@example.net", 2)
    assert subject == ("Votre compte est prêt" if lang == "fr" else "Your account is ready")
    assert "eloise.le-goff2" in welcome and PASSWORD not in welcome

    account = app.extensions["cas"].accounts.find_by_login("eloise.le-goff2")
    assert account is not None
    assert account.profile is Profile.EXTERNAL and account.status is Status.ACTIVE
    assert account.given_name == "Éloïse" and account.personal_email == "eloise@example.net"
    assert account.attributes["c"] == ("FR",) and account.attributes["o"] == ("company",)
    assert account.attributes["supannOrganisme"] == ("EXT",)
    row = rows(app, AccountRow, login="eloise.le-goff2")[0]
    assert row.personal_email_verified_at is not None
    # The request keeps no password hash once the account exists.
    assert "password_hash" not in rows(app, RegistrationRequestRow)[0].data

    signed_in = CasBrowser(app.test_client()).login("eloise.le-goff2", PASSWORD)
    assert signed_in.status_code == 200 and "TGC=" in signed_in.headers.get("Set-Cookie", "")


def test_the_charter_is_accepted_on_the_form(
    app: Flask, sesame_client: FlaskClient, smtp_sink: SmtpSink
) -> None:
    browser = SesameBrowser(sesame_client, "en")
    refused = browser.submit(START, form("jean@example.net", charter=""))
    assert refused.status_code == 400
    assert "You must accept the charter to continue." in text(refused)
    register(browser, "jean@example.net")
    confirm(sesame_client, confirm_path(app, smtp_sink, "jean@example.net"))
    account = app.extensions["cas"].accounts.find_by_login("jean.dupont")
    assert app.extensions["cas"].accounts.accepted_charter_version(account.uuid, "general")


@pytest.mark.parametrize("app_overrides", [{"enabled": False}], indirect=True)
def test_off_means_no_link_and_404(app: Flask, sesame_client: FlaskClient) -> None:
    assert "/sesame/register" not in sesame_client.get("/login").get_data(as_text=True)
    assert sesame_client.get(START).status_code == 404
    assert sesame_client.post(START, data=form("a@example.net")).status_code in (400, 404)
    assert sesame_client.get("/sesame/register/confirm/" + "A" * 43).status_code == 410


def test_purge_removes_expired_requests(
    app: Flask, sesame_client: FlaskClient, smtp_sink: SmtpSink, runner: Any
) -> None:
    browser = SesameBrowser(sesame_client, "en")
    register(browser, "old@example.net")
    register(browser, "new@example.net")
    drained(app, smtp_sink)
    table = RegistrationRequestRow.__table__
    with app.extensions["cas"].engine.begin() as conn:
        conn.execute(
            update(table)
            .where(table.c.email == "old@example.net")
            .values(expires_at=datetime.now(UTC) - timedelta(hours=1))
        )
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert "1 expired or decided account creation request(s) removed" in result.output
    assert [r.email for r in rows(app, RegistrationRequestRow)] == ["new@example.net"]
