"""Sessions ended without their browser (#18): the person's "end this session" / "end
every other one", the help desk's end, a lock, a password change. Their SAML SPs are
forgotten in ``saml_participants`` (front-channel frames where this browser can carry
them); another session's SPs are kept."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from cas_server.protocol.cas.tickets import ticket_digest
from tests.support.app import events, make_account
from tests.support.console import act, console_client
from tests.support.html import csrf, text
from tests.support.profile import ProfileBrowser
from tests.web.saml.saml_web_support import SP1, SP1_SLO, SP4, SamlSp, sign_in


def _browser(app: Flask, *sps: str, profile: bool = False) -> tuple[FlaskClient, str]:
    """A browser of alice signed in to ``sps`` (and to her profile), and its handle."""
    client = app.test_client()
    if profile:
        ProfileBrowser(client, "en").sign_in("alice")
    else:
        sign_in(client)
    for entity_id in sps:
        sp = SamlSp(client, entity_id)
        sp.response(sp.send())
    cookie = client.get_cookie("TGC")
    assert cookie is not None
    return client, ticket_digest(cookie.value)


def _participants(app: Flask, handle: str) -> list[Any]:
    return list(app.extensions["cas"].saml_sessions.participants(handle))


def _profile_post(client: FlaskClient, url: str, **data: str) -> Any:
    token = csrf(client.get("/profile/sessions").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data})


def test_ending_another_session_from_the_profile_forgets_its_sps(app: Flask) -> None:
    make_account(app)
    here, mine = _browser(app, SP4, profile=True)
    _, target = _browser(app, SP1, SP4)
    assert len(_participants(app, target)) == 2
    response = _profile_post(here, "/profile/sessions/end", handle=target)
    assert response.status_code == 200, response.status_code  # a page with frames
    frames = re.findall(r'<iframe[^>]*src="([^"]+)"', response.get_data(as_text=True))
    assert any(f.startswith(SP1_SLO + "?SAMLRequest=") for f in frames), frames
    assert _participants(app, target) == []
    assert len(_participants(app, mine)) == 1  # this browser's SPs stay
    assert [e.outcome for e in events(app, "session_end_self")] == ["success"]


def test_ending_every_other_session_forgets_their_sps(app: Flask) -> None:
    make_account(app)
    here, mine = _browser(app, SP1, profile=True)
    _, first = _browser(app, SP1)
    _, second = _browser(app, SP4)
    response = _profile_post(here, "/profile/sessions/end-others")
    assert response.status_code == 200
    assert _participants(app, first) == [] and _participants(app, second) == []
    assert len(_participants(app, mine)) == 1


def test_the_help_desk_ending_a_session_forgets_its_sps(app: Flask) -> None:
    make_account(app)
    desk = console_client(app, "desk", ("helpdesk",))
    _, target = _browser(app, SP1)
    _, other = _browser(app, SP4)
    page = desk.get("/admin/sessions/end", query_string={"scope": "one", "handle": target})
    assert page.status_code == 200
    form = {
        "csrf_token": csrf(page.get_data(as_text=True)),
        "confirm": "1",
        "scope": "one",
        "handle": target,
        "reason": "Stolen laptop",
    }
    assert desk.post("/admin/sessions/end", data=form).status_code in (200, 303)
    assert _participants(app, target) == []
    assert len(_participants(app, other)) == 1


def test_a_lock_forgets_the_sps_of_every_session(app: Flask) -> None:
    alice = make_account(app)
    admin = console_client(app, "root", ("admin",))
    _, first = _browser(app, SP1)
    _, second = _browser(app, SP1, SP4)
    done = act(admin, alice.uuid, "lock", {"reason": "stolen laptop"})
    assert done.status_code == 303, text(done)[:300]
    assert _participants(app, first) == [] and _participants(app, second) == []
    assert events(app, "admin_lock")[-1].details["sessions_ended"] == 2


def test_ending_every_session_of_an_account_forgets_them(app: Flask) -> None:
    """The path of a password reset (web/sesame) and of a password change."""
    from cas_server.web.sesame.runtime import end_sessions

    alice = make_account(app)
    _, first = _browser(app, SP1)
    _, second = _browser(app, SP4)
    bob = make_account(app, "bob")
    bobs = app.test_client()
    sign_in(bobs, "bob")
    sp = SamlSp(bobs, SP1)
    sp.response(sp.send())
    cookie = bobs.get_cookie("TGC")
    assert cookie is not None
    with app.test_request_context():
        end_sessions(alice)
    assert _participants(app, first) == [] and _participants(app, second) == []
    assert len(_participants(app, ticket_digest(cookie.value))) == 1, bob.login


def test_a_password_change_forgets_the_sps_of_the_other_sessions(app: Flask) -> None:
    """``renew_sessions`` (the profile's password change): every session ends."""
    from cas_server.web.profile.password import renew_sessions

    alice = make_account(app)
    _, first = _browser(app, SP1)
    _, second = _browser(app, SP1, SP4)
    with app.test_request_context():
        _, fresh = renew_sessions(alice)
    assert fresh is None  # no session in this (bare) request
    assert _participants(app, first) == [] and _participants(app, second) == []
