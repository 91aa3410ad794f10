"""Single logout between the IdP under gunicorn and pysaml2 SPs in other processes (#18).

From an SP (its LogoutRequest to /idp/slo ends the CAS session and the other SPs'
sessions through front-channel frames, then the SP gets its LogoutResponse), and from
the IdP (CAS /logout: every SAML SP of the session is told by a frame). Each check reads
the SP's own view of the browser's session (its /session.json).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.support.saml_sp import (
    SIGN_IN_TITLE,
    SamlBrowser,
    SamlDeployment,
    deploy,
    visible_text,
)

pytestmark = pytest.mark.e2e

CAS_SERVICE = "https://app.example.org/"


@pytest.fixture(scope="module")
def saml(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SamlDeployment]:
    yield from deploy(
        tmp_path_factory.mktemp("saml-slo"),
        {"one": {"binding": "redirect"}, "two": {"binding": "post"}, "sealed": {"encrypt": True}},
    )


@pytest.fixture
def browser() -> Iterator[SamlBrowser]:
    agent = SamlBrowser()
    yield agent
    agent.close()


def cas_session_alive(browser: SamlBrowser, base: str) -> bool:
    """The CAS SSO session gives a ticket without the form."""
    answer = browser.session.get(
        base + "/login", params={"service": CAS_SERVICE}, allow_redirects=False, timeout=10
    )
    if answer.status_code == 302 and "ticket=" in answer.headers.get("Location", ""):
        return True
    assert answer.status_code == 200 and SIGN_IN_TITLE in answer.text, answer.text[:500]
    return False


def sign_in_everywhere(saml: SamlDeployment, browser: SamlBrowser) -> None:
    browser.sign_in(saml.sp("one"))
    for name in ("two", "sealed"):
        final = browser.get(saml.sp(name).url("/saml/login"))
        assert final.url.startswith(saml.sp(name).base), browser.explain(final)
    for name in ("one", "two", "sealed"):
        assert browser.sp_session(saml.sp(name))["signed_in"], name
    assert cas_session_alive(browser, saml.base)


def test_logout_from_an_sp_ends_every_session(saml: SamlDeployment, browser: SamlBrowser) -> None:
    sign_in_everywhere(saml, browser)
    browser.visited.clear()
    final = browser.get(saml.sp("one").url("/saml/slo"))
    # The SP sent its LogoutRequest to the IdP and got a LogoutResponse back.
    assert any(f"{saml.base}/idp/slo" in step for step in browser.visited), browser.explain(final)
    assert final.url.startswith(saml.sp("one").base), browser.explain(final)
    assert "Vous êtes déconnecté" in visible_text(final.text), browser.explain(final)
    for name in ("one", "two", "sealed"):
        assert browser.sp_session(saml.sp(name))["signed_in"] is False, name
    assert not cas_session_alive(browser, saml.base)
    # The other SPs were told through the browser (front channel), with their own
    # LogoutResponse going back to the IdP.
    told = [s for s in browser.visited if "/saml/slo?SAMLRequest=" in s]
    assert {saml.sp("two").base, saml.sp("sealed").base} <= {
        s.split(" ")[1].split("/saml/")[0] for s in told
    }, browser.visited


def test_logout_at_the_idp_ends_the_sp_sessions(saml: SamlDeployment, browser: SamlBrowser) -> None:
    sign_in_everywhere(saml, browser)
    browser.visited.clear()
    page = browser.get(saml.base + "/logout")
    assert page.status_code == 200, browser.explain(page)
    assert browser.frames_loaded, "the logout page had no front-channel frames"
    for name in ("one", "two", "sealed"):
        assert browser.sp_session(saml.sp(name))["signed_in"] is False, name
    assert not cas_session_alive(browser, saml.base)
    # Signing in again asks for the password.
    shown = browser.get(saml.sp("one").url("/saml/login"))
    assert SIGN_IN_TITLE in shown.text, browser.explain(shown)


def test_idp_logout_leaves_other_browsers_signed_in(
    saml: SamlDeployment, browser: SamlBrowser
) -> None:
    other = SamlBrowser()
    try:
        other.sign_in(saml.sp("one"))
        browser.sign_in(saml.sp("one"))
        browser.get(saml.base + "/logout")
        assert browser.sp_session(saml.sp("one"))["signed_in"] is False
        assert other.sp_session(saml.sp("one"))["signed_in"] is True
        assert cas_session_alive(other, saml.base)
    finally:
        other.close()


def test_a_logout_request_from_another_browser_ends_nothing(
    saml: SamlDeployment, browser: SamlBrowser
) -> None:
    """The SP's LogoutRequest, carried by a browser without that session, is refused."""
    browser.sign_in(saml.sp("one"))
    start = browser.get(saml.sp("one").url("/saml/slo"), follow=False)
    assert start.status_code == 302
    request_url = start.headers["Location"]
    assert request_url.startswith(saml.base + "/idp/slo?")
    # Not followed by the signed-in browser: a stranger brings it to the IdP.
    stranger = requests.get(request_url, timeout=10, allow_redirects=False)
    assert stranger.status_code in (200, 302, 400), stranger.text[:500]
    assert cas_session_alive(browser, saml.base)
