"""The fast path (web/fast_path.py) answers exactly what the Flask views answer.

Two applications share one database: one with ``[server] fast_path`` on,
one with it off. Each request is sent to both; status, headers and body
must agree once the parts that differ by nature (ticket ids, CSRF tokens,
request ids) are masked. The requests the fast path must serve itself are
checked to never reach Flask, and the ones it must leave alone to reach it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask, request_started
from flask.testing import FlaskClient

from cas_server import create_app
from cas_server.accounts.model import Account
from tests.support.app import CasBrowser, make_account, test_overrides

APP = "https://app.example.org/"
MASKS = (
    (re.compile(r"(ST|PT|PGT|PGTIOU|TGT)-[A-Za-z0-9-]+"), r"\1-…"),
    (re.compile(r'name="csrf_token" value="[^"]+"'), 'name="csrf_token" value="…"'),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"), "…date…"),
    (re.compile(r"cas_session=[^;]+"), "cas_session=…"),
)


# A percent-encoded control character (C0, DEL, C1 as UTF-8) in a test query.
CONTROL_IN_QUERY = re.compile(r"%(?:[01][0-9A-F]|7F|C2%[89][0-9A-F])")


def mask(text: str) -> str:
    for pattern, replacement in MASKS:
        text = pattern.sub(replacement, text)
    return text


@pytest.fixture
def apps(db_path: Path) -> Iterator[tuple[Flask, Flask]]:
    fast = create_app(overrides=test_overrides(db_path), environ={})
    slow = create_app(overrides=test_overrides(db_path, server={"fast_path": False}), environ={})
    yield fast, slow
    for application in (fast, slow):
        application.extensions["cas"].single_logout.executor.shutdown(wait=True)
        application.extensions["cas"].engine.dispose()


@pytest.fixture
def alice_here(apps: tuple[Flask, Flask]) -> Account:
    return make_account(apps[0])


class FlaskCalls:
    """Counts the requests that reached Flask's request machinery."""

    def __init__(self, app: Flask) -> None:
        self.count = 0
        request_started.connect(self._seen, app)

    def _seen(self, sender: Any, **extra: Any) -> None:
        self.count += 1


def answer(client: FlaskClient, path: str, **kwargs: Any) -> tuple[int, dict[str, str], str]:
    response = client.get(path, **kwargs)
    headers = {k: mask(v) for k, v in response.headers.items() if k != "X-Request-Id"}
    return response.status_code, headers, mask(response.get_data(as_text=True))


def signed_in(app: Flask) -> tuple[FlaskClient, str]:
    client = app.test_client()
    CasBrowser(client).login()
    cookie = client.get_cookie("TGC")
    assert cookie is not None
    return client, cookie.value


VALIDATION_PATHS = (
    "/validate",
    "/serviceValidate",
    "/proxyValidate",
    "/p3/serviceValidate",
    "/p3/proxyValidate",
)


@pytest.mark.parametrize("path", VALIDATION_PATHS)
@pytest.mark.parametrize(
    "query",
    [
        "service={service}&ticket={ticket}",
        "service={service}&ticket={ticket}&format=JSON",
        "service={service}&ticket={ticket}&format=json&renew=true",
        "service={service}&ticket={ticket}&format=yaml",
        "service=https%3A%2F%2Fother.example.org%2F&ticket={ticket}",
        "service={service}&ticket={ticket}&ticket=ST-second",
        "service={service}&ticket=ST-unknown",
        "service={service}&ticket=%ff%fe",
        "service={service}&ticket=PGT-not-a-service-ticket",
        "ticket={ticket}",
        "",
        "service=" + "x" * 5000 + "&ticket={ticket}",
        "service={service}&ticket={ticket}&pgtUrl=http%3A%2F%2Fplain.example.org%2F",
        # Control characters (C0, DEL, C1): refused before the ticket is looked at.
        "service={service}%0DSet-Cookie:%20x=1&ticket={ticket}",
        "service={service}%00&ticket={ticket}&format=JSON",
        "service={service}%7F&ticket={ticket}",
        "service={service}%C2%85&ticket={ticket}",
        "service={service}&ticket={ticket}&pgtUrl=https%3A%2F%2F127.0.0.1%2Fcb%0D%0AX:%201",
    ],
)
def test_validation_answers_agree(
    apps: tuple[Flask, Flask], alice_here: Account, path: str, query: str
) -> None:
    fast, slow = apps
    answers = []
    for app in (fast, slow):
        client, _ = signed_in(app)
        ticket = CasBrowser(client).service_ticket(APP)
        calls = FlaskCalls(app)
        full = path + "?" + query.format(service=quote(APP, safe=""), ticket=ticket)
        answers.append(answer(app.test_client(), full))
        assert calls.count == (0 if app is fast else 1)
    assert answers[0] == answers[1]
    if CONTROL_IN_QUERY.search(query):
        status, _, body = answers[0]
        assert status == 200
        assert body == "no\n\n" if path == "/validate" else "INVALID_REQUEST" in body


@pytest.mark.parametrize(
    ("query", "cookies", "served_fast"),
    [
        ("service={service}", {}, True),
        ("service={service}&gateway=true", {}, True),
        ("service={service}&method=GET", {}, True),
        ("service={service}&method=POST", {}, False),
        ("service={service}&method=HEADER", {}, False),
        ("service={service}&method=bogus", {}, False),
        ("service={service}&renew=true", {}, False),
        ("service={service}&warn=true", {}, False),
        ("service={service}", {"CASPRIVACY": "1"}, False),
        ("service={service}&lang=en", {}, False),
        ("service=https%3A%2F%2Fnot-registered.example.net%2F", {}, False),
        ("", {}, False),
        ("service={service}", {"TGC": "TGT-unknown"}, False),
        # Control characters: never a Location with a raw CR, the same 400 page on both.
        ("service={service}%0DSet-Cookie:%20x=1", {}, False),
        ("service={service}%0A", {}, False),
        ("service={service}%09", {}, False),
        ("service={service}%7F", {}, False),
        ("service={service}%C2%9B", {}, False),
        ("service={service}%0D&gateway=true", {}, False),
    ],
)
def test_single_sign_on_answers_agree(
    apps: tuple[Flask, Flask],
    alice_here: Account,
    query: str,
    cookies: dict[str, str],
    served_fast: bool,
) -> None:
    fast, slow = apps
    answers = []
    for app in (fast, slow):
        client, _ = signed_in(app)
        for name, value in cookies.items():
            client.set_cookie(name, value)
        calls = FlaskCalls(app)
        answers.append(answer(client, "/login?" + query.format(service=quote(APP, safe=""))))
        assert calls.count == (0 if served_fast and app is fast else 1)
    assert answers[0] == answers[1]
    if CONTROL_IN_QUERY.search(query):
        status, headers, _ = answers[0]
        assert status == 400 and "Location" not in headers
    if served_fast:
        status, headers, _ = answers[0]
        assert status == 302
        assert headers["Location"].startswith(APP + "?ticket=ST-")


def test_a_fast_path_ticket_validates_once(apps: tuple[Flask, Flask], alice_here: Account) -> None:
    fast, _ = apps
    client, _ = signed_in(fast)
    location = client.get("/login?service=" + quote(APP, safe="")).headers["Location"]
    ticket = location.split("ticket=", 1)[1]
    query = {"service": APP, "ticket": ticket}
    assert client.get("/validate", query_string=query).data == b"yes\nalice\n"
    assert client.get("/validate", query_string=query).data == b"no\n\n"


def test_other_methods_go_to_flask(apps: tuple[Flask, Flask], alice_here: Account) -> None:
    fast, slow = apps
    for path in (*VALIDATION_PATHS, "/login"):
        answers = [answer(app.test_client(), path, method="HEAD") for app in (fast, slow)]
        assert answers[0] == answers[1]
        posted = [app.test_client().post(path).status_code for app in (fast, slow)]
        assert posted[0] == posted[1]


# --- issue 12 item 3: cas2_attributes, on both paths alike ------------------------------

PHP_APP = "https://moodle.example.org/"
CAS2_SERVICE = """
[[services]]
id = "moodle"
name = "Moodle (phpCAS, CAS_VERSION_2_0)"
url_pattern = '^https://moodle\\.example\\.org(/.*)?$'
release_attributes = ["uid", "mail"]
cas2_attributes = true
"""


@pytest.fixture
def cas2_apps(db_path: Path, tmp_path: Path) -> Iterator[tuple[Flask, Flask]]:
    services = tmp_path / "cas2.toml"
    services.write_text(CAS2_SERVICE, encoding="utf-8")
    paths = {"paths": [str(services)]}
    fast = create_app(overrides=test_overrides(db_path, services=paths), environ={})
    slow = create_app(
        overrides=test_overrides(db_path, services=paths, server={"fast_path": False}),
        environ={},
    )
    yield fast, slow
    for application in (fast, slow):
        application.extensions["cas"].single_logout.executor.shutdown(wait=True)
        application.extensions["cas"].engine.dispose()


@pytest.mark.parametrize("path", VALIDATION_PATHS)
@pytest.mark.parametrize(
    "query", ["service={service}&ticket={ticket}", "service={service}&ticket={ticket}&format=JSON"]
)
def test_cas2_attributes_answers_agree(
    cas2_apps: tuple[Flask, Flask], path: str, query: str
) -> None:
    fast, slow = cas2_apps
    make_account(fast)
    answers = []
    for app in (fast, slow):
        client = app.test_client()
        ticket = CasBrowser(client).service_ticket(PHP_APP)
        calls = FlaskCalls(app)
        full = path + "?" + query.format(service=quote(PHP_APP, safe=""), ticket=ticket)
        answers.append(answer(app.test_client(), full))
        assert calls.count == (0 if app is fast else 1)
    assert answers[0] == answers[1]
    if path != "/validate":
        assert "longTermAuthenticationRequestTokenUsed" in answers[0][2]
