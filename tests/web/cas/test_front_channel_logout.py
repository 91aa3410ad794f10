"""Front-channel single logout: the browser's logout page makes it tell the services.

A service defined with ``logout_type = "front_channel"`` gets no POST from
the server: the page that ends the browser's session holds a hidden frame per
validated service ticket, loading ``<logout URL>?logoutRequest=<base64(zlib
DEFLATE(LogoutRequest))>`` (Apereo CAS's encoding), and its CSP frames exactly
those origins.
"""

from __future__ import annotations

import base64
import json
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from cas_server.accounts.model import Account
from cas_server.protocol.cas.tickets import SingleLogoutTarget
from tests.support.app import DATA, CasBrowser
from tests.support.slo import (
    LogoutEndpoint,
    drain,
    parse,
    sso_ticket,
    validate,
)

BACK = "https://slo.example.org/app"
FRONT = "https://front.example.org/app"
OTHER = "https://other.example.org/app"
ESCAPE = "https://escape.example.org/app"
FRONT_LOGOUT = "https://front.example.org/cas/logout"
OTHER_LOGOUT = "https://sso.other.example.org:8443/slo?app=other"
ESCAPE_LOGOUT = "https://escape.example.org/slo?a=1&b=\"><x>'"
ESCAPE_NAME = 'Esc <i>&</i> "q"'


@pytest.fixture
def back() -> Any:
    endpoint = LogoutEndpoint()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def app_overrides(tmp_path: Path, back: LogoutEndpoint) -> dict[str, dict[str, Any]]:
    services = tmp_path / "front-services.toml"
    services.write_text(
        "[[services]]\n"
        'id = "slo-back"\n'
        'name = "Back channel"\n'
        "url_pattern = '^https://slo\\.example\\.org(/.*)?$'\n"
        "evaluation_order = 100\n"
        f'logout_url = "{back.url}"\n'
        "\n"
        "[[services]]\n"
        'id = "slo-front"\n'
        'name = "Front channel"\n'
        "url_pattern = '^https://front\\.example\\.org(/.*)?$'\n"
        "evaluation_order = 101\n"
        'logout_type = "front_channel"\n'
        f'logout_url = "{FRONT_LOGOUT}"\n'
        "\n"
        "[[services]]\n"
        'id = "slo-other"\n'
        'name = "Other front channel"\n'
        "url_pattern = '^https://other\\.example\\.org(/.*)?$'\n"
        "evaluation_order = 102\n"
        'logout_type = "front_channel"\n'
        f'logout_url = "{OTHER_LOGOUT}"\n'
        "\n"
        "[[services]]\n"
        'id = "slo-escape"\n'
        f"name = {json.dumps(ESCAPE_NAME)}\n"
        "url_pattern = '^https://escape\\.example\\.org(/.*)?$'\n"
        "evaluation_order = 103\n"
        'logout_type = "front_channel"\n'
        f"logout_url = {json.dumps(ESCAPE_LOGOUT)}\n",
        encoding="utf-8",
    )
    return {"services": {"paths": [str(DATA / "services.toml"), str(services)]}}


class Frames(HTMLParser):
    """The <iframe>s of a page, their attributes decoded as a browser would."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.frames: list[dict[str, str | None]] = []
        self.scripts: list[str] = []
        self.links: list[dict[str, str | None]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "iframe":
            self.frames.append(dict(attrs))
        elif tag == "script":
            self.scripts.append(dict(attrs).get("src") or "<inline>")
        elif tag == "a":
            self.links.append(dict(attrs))


def frames(response: TestResponse) -> list[dict[str, str | None]]:
    return Frames(response.get_data(as_text=True)).frames


def logout_request_of(url: str) -> tuple[str, tuple[str, str]]:
    """(URL without logoutRequest, (NameID, SessionIndex)) of a front-channel URL."""
    parts = urlsplit(url)
    params = parse_qs(parts.query)
    [value] = params.pop("logoutRequest")
    document = zlib.decompress(base64.b64decode(value, validate=True)).decode("utf-8")
    rest = "&".join(f"{k}={v}" for k, vs in params.items() for v in vs)
    base = f"{parts.scheme}://{parts.netloc}{parts.path}" + (f"?{rest}" if rest else "")
    return base, parse(document)


def csp(response: TestResponse) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    policy: dict[str, str] = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition(" ")
        policy[name] = value
    return policy


def test_front_channel_service_gets_a_frame_with_its_logout_request(
    client: FlaskClient, alice: Account, browser: CasBrowser
) -> None:
    ticket = browser.service_ticket(FRONT)
    validate(client, FRONT, ticket)

    response = client.get("/logout")
    assert response.status_code == 200
    [frame] = frames(response)
    src = frame["src"]
    assert src is not None
    assert logout_request_of(src) == (FRONT_LOGOUT, ("alice", ticket))
    # Hidden from everyone, nothing to focus, but named.
    assert "hidden" in frame and frame.get("aria-hidden") == "true"
    assert frame.get("tabindex") == "-1"
    assert frame.get("title")
    assert "Front channel" in response.get_data(as_text=True)


def test_every_front_channel_ticket_gets_its_frame(
    client: FlaskClient, alice: Account, browser: CasBrowser
) -> None:
    first = browser.service_ticket(FRONT)
    validate(client, FRONT, first)
    second = sso_ticket(client, OTHER)
    validate(client, OTHER, second)

    found = {logout_request_of(str(f["src"])) for f in frames(client.get("/logout"))}
    assert found == {
        (FRONT_LOGOUT, ("alice", first)),
        (OTHER_LOGOUT, ("alice", second)),
    }


def test_back_channel_still_posted_and_not_framed_front_channel_not_posted(
    app: Flask, client: FlaskClient, alice: Account, browser: CasBrowser, back: LogoutEndpoint
) -> None:
    back_ticket = browser.service_ticket(BACK)
    validate(client, BACK, back_ticket)
    front_ticket = sso_ticket(client, FRONT)
    validate(client, FRONT, front_ticket)

    response = client.get("/logout")
    assert response.status_code == 200
    [frame] = frames(response)
    assert logout_request_of(str(frame["src"]))[1] == ("alice", front_ticket)
    assert back.url not in response.get_data(as_text=True)
    [message] = back.wait_for(1)
    drain(app)
    assert [parse(m) for m in back.received] == [parse(message)] == [("alice", back_ticket)]


def test_front_channel_service_never_gets_a_post(
    tmp_path: Path, db_path: Path, back: LogoutEndpoint
) -> None:
    """A front-channel service whose logout URL listens: the server itself sends nothing."""
    from cas_server import create_app
    from tests.support.app import make_account, test_overrides

    services = tmp_path / "front-local.toml"
    services.write_text(
        "[[services]]\n"
        'id = "front-local"\n'
        'name = "Front local"\n'
        "url_pattern = '^https://front\\.example\\.org(/.*)?$'\n"
        'logout_type = "front_channel"\n'
        f'logout_url = "{back.url}"\n',
        encoding="utf-8",
    )
    app = create_app(
        overrides=test_overrides(db_path, services={"paths": [str(services)]}), environ={}
    )
    try:
        make_account(app)
        client = app.test_client()
        ticket = CasBrowser(client).service_ticket(FRONT)
        validate(client, FRONT, ticket)
        response = client.get("/logout")
        [frame] = frames(response)
        assert logout_request_of(str(frame["src"])) == (back.url, ("alice", ticket))
        # Ending every session without a browser (console, password reset) cannot
        # tell a front-channel service: no POST either.
        c = app.extensions["cas"]
        target = SingleLogoutTarget(FRONT, "front-local", back.url, ticket)
        assert c.single_logout.notify([target], "alice", c.clock.now()) == []
        drain(app)
        assert back.received == []
    finally:
        app.extensions["cas"].single_logout.executor.shutdown(wait=True)
        app.extensions["cas"].engine.dispose()


def test_csp_frames_exactly_the_front_channel_origins(
    client: FlaskClient, alice: Account, browser: CasBrowser
) -> None:
    validate(client, FRONT, browser.service_ticket(FRONT))
    validate(client, FRONT + "/again", sso_ticket(client, FRONT + "/again"))
    validate(client, OTHER, sso_ticket(client, OTHER))
    validate(client, BACK, sso_ticket(client, BACK))

    policy = csp(client.get("/logout"))
    assert policy["frame-src"] == "https://front.example.org https://sso.other.example.org:8443"
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"


def test_plain_logout_keeps_the_default_csp_and_no_frame(
    client: FlaskClient, alice: Account, browser: CasBrowser, back: LogoutEndpoint
) -> None:
    validate(client, BACK, browser.service_ticket(BACK))
    response = client.get("/logout")
    assert response.status_code == 200
    assert frames(response) == []
    assert "frame-src" not in csp(response)
    back.wait_for(1)


def test_logout_without_a_session_shows_no_frame(client: FlaskClient) -> None:
    response = client.get("/logout")
    assert response.status_code == 200
    assert frames(response) == []
    assert "frame-src" not in csp(response)


def test_unvalidated_front_channel_ticket_gets_no_frame(
    client: FlaskClient, alice: Account, browser: CasBrowser
) -> None:
    browser.service_ticket(FRONT)  # never validated: the service has no session to end
    response = client.get("/logout")
    assert frames(response) == []
    assert "frame-src" not in csp(response)


def test_logout_with_service_shows_the_page_when_frames_must_load(
    client: FlaskClient, alice: Account, browser: CasBrowser
) -> None:
    ticket = browser.service_ticket(FRONT)
    validate(client, FRONT, ticket)

    back_to = FRONT + "/bye?x=1&y=2"
    response = client.get("/logout", query_string={"service": back_to})
    assert response.status_code == 200
    assert "Location" not in response.headers
    page = Frames(response.get_data(as_text=True))
    [frame] = page.frames
    assert logout_request_of(str(frame["src"]))[1] == ("alice", ticket)
    assert [a["href"] for a in page.links if "js-logout-continue" in (a.get("class") or "")] == [
        back_to
    ]
    assert "<inline>" not in page.scripts
    assert any(str(s).endswith("/js/logout-continue.js") for s in page.scripts)
    assert "TGC=;" in response.headers.get("Set-Cookie", "") or any(
        h.startswith("TGC=;") for h in response.headers.getlist("Set-Cookie")
    )


def test_logout_with_service_and_no_front_channel_still_redirects(
    client: FlaskClient, alice: Account, browser: CasBrowser, back: LogoutEndpoint
) -> None:
    validate(client, BACK, browser.service_ticket(BACK))
    response = client.get("/logout", query_string={"service": FRONT})
    assert response.status_code == 302
    assert response.headers["Location"] == FRONT
    assert "frame-src" not in csp(response)
    back.wait_for(1)
    # And without any session at all.
    response = client.get("/logout", query_string={"service": FRONT})
    assert response.status_code == 302


def test_unregistered_service_on_logout_gets_no_link(
    client: FlaskClient, alice: Account, browser: CasBrowser
) -> None:
    validate(client, FRONT, browser.service_ticket(FRONT))
    response = client.get("/logout", query_string={"service": "https://evil.example.net/"})
    assert response.status_code == 200
    page = Frames(response.get_data(as_text=True))
    assert len(page.frames) == 1
    assert not [a for a in page.links if "js-logout-continue" in (a.get("class") or "")]
    assert not [a for a in page.links if (a.get("href") or "").startswith("https://evil")]
    assert not any(str(s).endswith("/js/logout-continue.js") for s in page.scripts)


def test_urls_and_names_are_escaped_in_the_page(
    client: FlaskClient, alice: Account, browser: CasBrowser
) -> None:
    ticket = browser.service_ticket(ESCAPE)
    validate(client, ESCAPE, ticket)

    response = client.get("/logout")
    html = response.get_data(as_text=True)
    assert '"><x>' not in html and "<i>" not in html
    assert "Esc &lt;i&gt;&amp;&lt;/i&gt;" in html
    [frame] = frames(response)
    src = str(frame["src"])
    assert src.startswith(ESCAPE_LOGOUT + "&logoutRequest=")
    assert logout_request_of(src)[1] == ("alice", ticket)
    assert csp(response)["frame-src"] == "https://escape.example.org"


def test_new_sign_in_tells_the_previous_sessions_front_channel_services(
    client: FlaskClient, alice: Account, browser: CasBrowser
) -> None:
    """Signing in again ends the browser's previous session; the page shown tells them."""
    ticket = browser.service_ticket(FRONT)
    validate(client, FRONT, ticket)

    response = browser.login()
    assert response.status_code == 200
    [frame] = frames(response)
    assert logout_request_of(str(frame["src"])) == (FRONT_LOGOUT, ("alice", ticket))
    assert csp(response)["frame-src"] == "https://front.example.org"


def test_french_page(client: FlaskClient, alice: Account, browser: CasBrowser) -> None:
    validate(client, FRONT, browser.service_ticket(FRONT))
    response = client.get("/logout", query_string={"service": FRONT, "lang": "fr"})
    html = response.get_data(as_text=True)
    assert "Vous êtes aussi déconnecté de ces applications" in html
    assert "Continuer vers l&#39;application" in html or "Continuer vers l'application" in html
    [frame] = frames(response)
    assert frame["title"] == "Déconnexion de Front channel"
