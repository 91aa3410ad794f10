"""/profile/sessions ("Mes connexions"): the person's live sessions, ending them, the history.

Abuse cases first: another person's session handle, a made-up one, a form without
its CSRF token end nothing; then the pages in both languages, ending one session
(the other browser must sign in again, its services are told), ending every other
one, ending this browser's own (a logout), and the history a page at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cas_server.accounts.model import Account
from cas_server.protocol.cas.tickets import ticket_digest
from tests.support.app import PASSWORD, events
from tests.support.html import text
from tests.support.profile import ProfileBrowser, person
from tests.support.sessions import APP, IPHONE, sessions_overrides
from tests.support.slo import LogoutEndpoint, sso_ticket, validate

FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


@pytest.fixture
def endpoint() -> Iterator[LogoutEndpoint]:
    found = LogoutEndpoint()
    yield found
    found.stop()


@pytest.fixture
def app_overrides(
    sesame_overrides: dict[str, Any], tmp_path: Path, endpoint: LogoutEndpoint
) -> dict[str, Any]:
    campus = {
        "cidr": "127.0.0.0/8",
        "key": "campus",
        "fr": "Réseau de l'université",
        "en": "University network",
    }
    return {**sesame_overrides, **sessions_overrides(tmp_path, endpoint, campus)}


@pytest.fixture
def alice(app: Flask) -> Account:
    return person(app, "alice")


@pytest.fixture
def bob(app: Flask) -> Account:
    return person(app, "bob", given_name="Bob", family_name="Marley")


def browser(app: Flask, user_agent: str, lang: str = "fr") -> ProfileBrowser:
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    return ProfileBrowser(client, lang)


def handle_of(app: Flask, client: FlaskClient) -> str:
    cookie = client.get_cookie(app.extensions["cas"].settings.tgc_name)
    assert cookie is not None
    return ticket_digest(cookie.value)


def signed_in(client: FlaskClient) -> bool:
    """Whether the profile still opens without a new sign-in."""
    return client.get("/profile/").status_code == 200


def post(b: ProfileBrowser, action: str, **data: str) -> Any:
    return b.submit("/profile/sessions", data, action=action)


@pytest.fixture
def two(app: Flask, alice: Account) -> tuple[ProfileBrowser, ProfileBrowser]:
    """Alice signed in twice: on a Linux Firefox (``here``) and on an iPhone (``there``)."""
    here, there = browser(app, FIREFOX), browser(app, IPHONE)
    here.sign_in("alice")
    there.sign_in("alice")
    return here, there


# Abuse cases ---------------------------------------------------------------------------


def test_signed_out_is_sent_to_sign_in(client: FlaskClient, alice: Account) -> None:
    response = client.get("/profile/sessions")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    assert client.post("/profile/sessions/end", data={"handle": "0" * 64}).status_code in (
        302,
        400,
    )


def test_another_persons_session_is_not_ended(app: Flask, alice: Account, bob: Account) -> None:
    mine, theirs = browser(app, FIREFOX), browser(app, IPHONE)
    mine.sign_in("alice")
    theirs.sign_in("bob")
    target = handle_of(app, theirs.client)
    response = post(mine, "/profile/sessions/end", handle=target)
    assert response.status_code == 404
    assert signed_in(theirs.client), "bob's session must still be alive"
    assert signed_in(mine.client)
    refused = [e for e in events(app, "session_end_self") if e.outcome == "refused"]
    assert refused and refused[-1].login == "alice"
    # Bob's session does not show on Alice's page either.
    assert target not in mine.text("/profile/sessions")


@pytest.mark.parametrize("handle", ["", "nope", "A" * 64, "0" * 63, "0" * 65, "../" * 30])
def test_malformed_or_unknown_handle(
    app: Flask, two: tuple[ProfileBrowser, ProfileBrowser], handle: str
) -> None:
    here, there = two
    assert post(here, "/profile/sessions/end", handle=handle).status_code == 400
    assert post(here, "/profile/sessions/end", handle="f" * 64).status_code == 404
    assert signed_in(here.client) and signed_in(there.client)


def test_forms_without_csrf_token_end_nothing(
    app: Flask, two: tuple[ProfileBrowser, ProfileBrowser]
) -> None:
    here, there = two
    target = handle_of(app, there.client)
    assert here.client.post("/profile/sessions/end", data={"handle": target}).status_code == 400
    assert here.client.post("/profile/sessions/end-others").status_code == 400
    assert (
        here.client.post(
            "/profile/sessions/end", data={"handle": target, "csrf_token": "forged"}
        ).status_code
        == 400
    )
    assert signed_in(there.client) and signed_in(here.client)


# The page ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        (
            "fr",
            [
                "Mes connexions",
                "2 sessions ouvertes",
                "Firefox 121 sous Linux",
                "Safari 17 sous iOS 17",
                "Ce navigateur",
                "Réseau de l'université",
                "Ordinateur public ou partagé",
                "Moodle de test",
                "Déconnecter cette session",
                "Me déconnecter partout ailleurs",
            ],
        ),
        (
            "en",
            [
                "My sign-ins",
                "2 open sessions",
                "Firefox 121 on Linux",
                "Safari 17 on iOS 17",
                "This browser",
                "University network",
                "Public or shared computer",
                "Moodle de test",
                "Sign out this session",
                "Sign out everywhere else",
            ],
        ),
    ],
)
def test_the_page_lists_the_sessions(
    app: Flask, alice: Account, lang: str, words: list[str]
) -> None:
    here, there = browser(app, FIREFOX, lang), browser(app, IPHONE, lang)
    here.sign_in("alice")
    there.sign_in("alice")
    sso_ticket(there.client, APP)  # the iPhone's session opened Moodle
    page = here.get("/profile/sessions")
    assert page.status_code == 200
    shown = text(page)
    for word in words:
        assert word in shown, word
    html = page.get_data(as_text=True)
    # This browser's session comes first, and both are named by their handle, never the TGC.
    assert html.index(handle_of(app, here.client)) < html.index(handle_of(app, there.client))
    tgc = there.client.get_cookie(app.extensions["cas"].settings.tgc_name)
    assert tgc is not None and tgc.value not in html
    # The navigation has the entry, marked current.
    assert 'href="/profile/sessions" aria-current="page"' in html


# Ending sessions ------------------------------------------------------------------------


def test_end_one_session_from_another_browser(
    app: Flask, two: tuple[ProfileBrowser, ProfileBrowser], endpoint: LogoutEndpoint
) -> None:
    here, there = two
    st = sso_ticket(there.client, APP)
    validate(there.client, APP, st)
    target = handle_of(app, there.client)
    response = post(here, "/profile/sessions/end", handle=target)
    assert response.status_code == 303
    assert "done=session_ended" in response.headers["Location"]
    # The ended browser is asked for its password again; the other one is not.
    assert not signed_in(there.client)
    again = there.client.get("/login", query_string={"service": APP})
    assert again.status_code == 200 and 'name="password"' in again.get_data(as_text=True)
    assert signed_in(here.client)
    # Its service is told, as a logout tells it.
    received = endpoint.wait_for(1)
    assert st in received[0] and "alice" in received[0]
    ended = [e for e in events(app, "session_end_self") if e.outcome == "success"]
    assert len(ended) == 1 and ended[0].login == "alice" and ended[0].actor == "alice"
    assert "session a été fermée" in here.text("/profile/sessions?done=session_ended")


def test_end_every_other_session(
    app: Flask, two: tuple[ProfileBrowser, ProfileBrowser], endpoint: LogoutEndpoint
) -> None:
    here, there = two
    third = browser(app, FIREFOX)
    third.sign_in("alice")
    st = sso_ticket(third.client, APP)
    validate(third.client, APP, st)  # a service is told of the tickets it validated
    response = post(here, "/profile/sessions/end-others")
    assert response.status_code == 303
    assert not signed_in(there.client) and not signed_in(third.client)
    assert signed_in(here.client)
    assert st in endpoint.wait_for(1)[0]
    [audited] = events(app, "sessions_end_others")
    assert audited.details["count"] == 2
    page = text(here.get("/profile/sessions"))
    assert "1 session ouverte" in page and "partout ailleurs" not in page


def test_end_this_browsers_own_session_is_a_logout(
    app: Flask, two: tuple[ProfileBrowser, ProfileBrowser]
) -> None:
    here, there = two
    response = post(here, "/profile/sessions/end", handle=handle_of(app, here.client))
    assert response.status_code == 200
    assert "Déconnexion réussie" in text(response) or "Logout" in text(response)
    assert here.client.get_cookie(app.extensions["cas"].settings.tgc_name) is None
    assert not signed_in(here.client)
    assert signed_in(there.client)
    assert [e.outcome for e in events(app, "logout")] == ["success"]


def test_ending_an_already_ended_session_is_404(
    app: Flask, two: tuple[ProfileBrowser, ProfileBrowser]
) -> None:
    here, there = two
    target = handle_of(app, there.client)
    assert post(here, "/profile/sessions/end", handle=target).status_code == 303
    assert post(here, "/profile/sessions/end", handle=target).status_code == 404


# History --------------------------------------------------------------------------------


def _fill_history(app: Flask, who: Account, count: int) -> None:
    audit = app.extensions["cas"].audit
    for i in range(count):
        audit.record(
            "login",
            "invalid_credentials" if i % 2 else "success",
            account_uuid=who.uuid,
            login=who.login,
            ip=f"192.0.2.{i % 250}",
            details={},
        )


def test_history_is_paginated_and_only_ones_own(app: Flask, alice: Account, bob: Account) -> None:
    pytest.importorskip("cas_server.storage.sql.audit_queries").history_for  # noqa: B018
    _fill_history(app, alice, 60)
    app.extensions["cas"].audit.record(
        "login", "success", account_uuid=bob.uuid, login="bob", ip="203.0.113.9", details={}
    )
    b = browser(app, FIREFOX, "en")
    b.sign_in("alice")
    first = b.text("/profile/sessions/history")
    assert "History of my sign-ins" in first and "Older events" in first
    assert "Newer events" not in first
    assert "203.0.113.9" not in first  # bob's
    assert "Wrong identifier or password" in first
    second = b.text("/profile/sessions/history?page=2")
    assert "Newer events" in second
    last = b.text("/profile/sessions/history?page=3")
    assert "Older events" not in last
    for bad in ("0", "-1", "x", "1.5", "99999999"):
        assert b.get(f"/profile/sessions/history?page={bad}").status_code == 400
    fr = browser(app, FIREFOX, "fr")
    fr.sign_in("alice")
    shown = fr.text("/profile/sessions/history")
    assert "Historique de mes connexions" in shown and "Événements plus anciens" in shown


def test_history_keeps_to_the_configured_days(app: Flask, alice: Account) -> None:
    pytest.importorskip("cas_server.storage.sql.audit_queries").history_for  # noqa: B018
    from sqlalchemy import update

    from cas_server.storage.sql.models import AuditEventRow

    app.extensions["cas"].audit.record(
        "login", "success", account_uuid=alice.uuid, login="alice", ip="198.51.100.7", details={}
    )
    with app.extensions["cas"].engine.begin() as conn:
        conn.execute(
            update(AuditEventRow)
            .where(AuditEventRow.ip == "198.51.100.7")
            .values(at=datetime.now(UTC) - timedelta(days=61))
        )
    b = browser(app, FIREFOX, "en")
    b.sign_in("alice", PASSWORD)
    assert "198.51.100.7" not in b.text("/profile/sessions/history")


def test_profile_navigation_links_to_my_sign_ins(app: Flask, alice: Account) -> None:
    b = browser(app, FIREFOX, "fr")
    b.sign_in("alice")
    assert 'href="/profile/sessions"' in b.text("/profile/")
    assert "Mes connexions" in b.text("/profile/")


def test_a_password_change_keeps_this_browsers_device_and_address(
    app: Flask, alice: Account
) -> None:
    """The change ends every session and opens a new one here: that one is still
    described (device, address, network), not an anonymous row."""
    here = browser(app, FIREFOX, "en")
    here.sign_in("alice")
    before = handle_of(app, here.client)
    new = "Another-Secret-2031!x"
    answer = here.submit(
        "/profile/password",
        {"current_password": PASSWORD, "new_password": new, "confirm_password": new},
    )
    assert answer.status_code in (200, 302, 303)
    after = handle_of(app, here.client)
    assert after != before
    c = app.extensions["cas"]
    record = c.sessions.session(after, c.clock.now())
    assert record is not None and record.client is not None
    assert record.client.ip == "127.0.0.1"
    assert record.client.user_agent == FIREFOX
    assert record.client.network == "campus"
    shown = here.text("/profile/sessions")
    assert "Firefox" in shown and "University network" in shown
