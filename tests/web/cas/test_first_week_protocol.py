"""Issue 12, first week: CAS 2.0 attributes (item 3) and ``/logout?url=`` (item 8)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from lxml import etree

from cas_server.accounts.model import Account
from tests.support.app import DATA, CasBrowser
from tests.support.cli import cli_runner

CAS = {"cas": "http://www.yale.edu/tp/cas"}
APP = "https://app.example.org/"  # tests/data/services.toml: no cas2_attributes key
PHP_APP = "https://moodle.example.org/"
QUIET_APP = "https://quiet.example.org/"

SERVICES = """
[[services]]
id = "moodle"
name = "Moodle (phpCAS, CAS_VERSION_2_0)"
url_pattern = '^https://moodle\\.example\\.org(/.*)?$'
release_attributes = ["uid", "mail", { name = "displayName", as = "cn" }]
proxy_callback_pattern = '^https://(127\\.0\\.0\\.1|localhost)(:\\d+)?/.*$'
cas2_attributes = true

[[services]]
id = "quiet"
name = "Keeps CAS 2.0 answers bare even when the default says otherwise"
url_pattern = '^https://quiet\\.example\\.org(/.*)?$'
release_attributes = ["uid", "mail"]
cas2_attributes = false
"""


@pytest.fixture
def services_file(tmp_path: Path) -> Path:
    path = tmp_path / "first-week-services.toml"
    path.write_text(SERVICES, encoding="utf-8")
    return path


@pytest.fixture
def app_overrides(services_file: Path) -> dict[str, dict[str, Any]]:
    return {"services": {"paths": [str(DATA / "services.toml"), str(services_file)]}}


def attributes(body: bytes) -> dict[str, list[str]] | None:
    """The ``cas:attributes`` block of a success document, or None when absent."""
    doc = etree.fromstring(body)
    success = doc.find("cas:authenticationSuccess", CAS)
    assert success is not None, body
    block = success.find("cas:attributes", CAS)
    if block is None:
        return None
    found: dict[str, list[str]] = {}
    for element in block:
        found.setdefault(etree.QName(element).localname, []).append(element.text or "")
    return found


def validated(
    client: FlaskClient, browser: CasBrowser, path: str, service: str, **extra: str
) -> Any:
    ticket = browser.service_ticket(service)
    return client.get(path, query_string={"service": service, "ticket": ticket, **extra})


def masked(body: bytes) -> bytes:
    """authenticationDate differs between two sign-ins: the rest must be identical."""
    doc = etree.fromstring(body)
    for node in doc.iter("{http://www.yale.edu/tp/cas}authenticationDate"):
        node.text = "…"
    return bytes(etree.tostring(doc))


# --- item 3: cas2_attributes ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/serviceValidate", "/proxyValidate"])
def test_cas2_attributes_service_gets_the_p3_attributes_block(
    client: FlaskClient, browser: CasBrowser, alice: Account, path: str
) -> None:
    cas2 = validated(client, browser, path, PHP_APP)
    p3 = validated(client, browser, "/p3" + path, PHP_APP)
    found = attributes(cas2.data)
    assert found is not None
    assert found["uid"] == ["alice"] and found["mail"] == ["alice@example.org"]
    assert found["longTermAuthenticationRequestTokenUsed"] == ["false"]
    # The same document as /p3 gives ("v3 forward compatible").
    assert masked(cas2.data) == masked(p3.data)


def test_cas2_attributes_in_json(client: FlaskClient, browser: CasBrowser, alice: Account) -> None:
    cas2 = validated(client, browser, "/serviceValidate", PHP_APP, format="JSON")
    success = json.loads(cas2.data)["serviceResponse"]["authenticationSuccess"]
    assert success["user"] == "alice"
    assert success["attributes"]["uid"] == "alice"
    assert success["attributes"]["mail"] == "alice@example.org"
    p3 = validated(client, browser, "/p3/serviceValidate", PHP_APP, format="JSON")
    p3_success = json.loads(p3.data)["serviceResponse"]["authenticationSuccess"]
    for body in (success, p3_success):
        body["attributes"].pop("authenticationDate")
    assert success == p3_success


def test_services_without_the_key_keep_bare_cas2_answers(
    client: FlaskClient, browser: CasBrowser, alice: Account
) -> None:
    for service in (APP, QUIET_APP):
        for path in ("/serviceValidate", "/proxyValidate"):
            assert attributes(validated(client, browser, path, service).data) is None
        assert attributes(validated(client, browser, "/p3/serviceValidate", service).data)


@pytest.mark.parametrize(
    "app_overrides",
    [
        {
            "services": {
                "paths": [str(DATA / "services.toml")],
                "cas2_attributes": True,
            }
        }
    ],
)
def test_the_global_default_turns_it_on_for_every_service(
    client: FlaskClient, browser: CasBrowser, alice: Account
) -> None:
    found = attributes(validated(client, browser, "/serviceValidate", APP).data)
    assert found is not None and found["uid"] == ["alice"]


def test_a_service_can_say_no_to_a_global_default_of_yes(
    tmp_path: Path, services_file: Path, db_path: Path
) -> None:
    from cas_server import create_app
    from tests.support.app import make_account, test_overrides

    app = create_app(
        overrides=test_overrides(
            db_path,
            services={"paths": [str(services_file)], "cas2_attributes": True},
        ),
        environ={},
    )
    try:
        make_account(app)
        client = app.test_client()
        browser = CasBrowser(client)
        assert attributes(validated(client, browser, "/serviceValidate", QUIET_APP).data) is None
        assert attributes(validated(client, browser, "/serviceValidate", PHP_APP).data)
    finally:
        app.extensions["cas"].single_logout.executor.shutdown(wait=True)
        app.extensions["cas"].engine.dispose()


def test_services_check_and_the_console_show_it(app: Any) -> None:
    from tests.support.console import console_client
    from tests.support.html import text

    result = cli_runner(app).invoke(args=["services", "check"])
    assert result.exit_code == 0, result.output
    moodle = result.output.split(" moodle (", 1)[1].split("from:", 1)[0]
    assert "(also on CAS 2.0 /serviceValidate)" in moodle
    quiet = result.output.split(" quiet (", 1)[1].split("from:", 1)[0]
    assert "also on CAS 2.0" not in quiet
    page = text(console_client(app).get("/admin/services"))
    assert "Attributes on CAS 2.0 (/serviceValidate) Yes, as on /p3/serviceValidate" in page
    assert "No (CAS 3.0 /p3/serviceValidate only)" in page


def test_a_failure_is_the_same_with_or_without_the_key(client: FlaskClient) -> None:
    response = client.get("/serviceValidate", query_string={"service": PHP_APP, "ticket": "ST-x"})
    doc = etree.fromstring(response.data)
    failure = doc.find("cas:authenticationFailure", CAS)
    assert failure is not None and failure.get("code") == "INVALID_TICKET"


# --- item 8: /logout?url= ------------------------------------------------------------------


def test_logout_url_of_a_registered_service_is_shown_as_a_link(
    client: FlaskClient, browser: CasBrowser, alice: Account
) -> None:
    browser.service_ticket(APP)
    target = APP + "bye?x=1&y=2"
    page = client.get("/logout", query_string={"url": target})
    assert page.status_code == 200 and "Location" not in page.headers
    html = page.get_data(as_text=True)
    assert 'href="https://app.example.org/bye?x=1&amp;y=2"' in html
    # A link to follow, never a redirect: not the auto-continuing one of ?service=.
    assert "js-logout-continue" not in html and "logout-continue.js" not in html
    assert client.get_cookie("TGC") is None


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.net/",
        "https://app.example.org/blocked/x",  # registered but disabled
        "https://app.example.org/" + "x" * 5000,
    ],
)
def test_logout_url_that_is_not_a_registered_service_is_not_shown(
    client: FlaskClient, browser: CasBrowser, alice: Account, url: str
) -> None:
    browser.service_ticket(APP)
    page = client.get("/logout", query_string={"url": url})
    assert page.status_code == 200 and "Location" not in page.headers
    html = page.get_data(as_text=True)
    assert url[:40] not in html
    assert "logout-link" not in html


def test_logout_service_still_redirects_when_url_is_given_too(
    client: FlaskClient, browser: CasBrowser, alice: Account
) -> None:
    browser.service_ticket(APP)
    response = client.get("/logout", query_string={"service": APP, "url": PHP_APP})
    assert response.status_code == 302 and response.headers["Location"] == APP
