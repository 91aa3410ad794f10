"""The SAML identity provider under gunicorn, with pysaml2's own SP in other processes (#18).

Four demo SPs (``scripts/demo_saml_sp.py``) on free ports: ``one`` (HTTP-Redirect
binding, signed requests), ``two`` (HTTP-POST binding), ``sealed`` (publishes an
encryption key) and ``stranger`` (its metadata is not given to the IdP). Each test has a
browser of its own (``SamlBrowser``: redirects, auto-submitted forms, logout frames).
Single logout is in test_saml_sp_logout.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from lxml import etree

from tests.support.app import PASSWORD
from tests.support.gunicorn import tail
from tests.support.saml_sp import (
    SIGN_IN_TITLE,
    RunningSp,
    SamlBrowser,
    SamlDeployment,
    deploy,
    read_page,
    visible_text,
)

pytestmark = pytest.mark.e2e

CAS_SERVICE = "https://app.example.org/"
CAS_NS = {"cas": "http://www.yale.edu/tp/cas"}
NO_PASSIVE = "NoPassive"


@pytest.fixture(scope="module")
def saml(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SamlDeployment]:
    yield from deploy(
        tmp_path_factory.mktemp("saml-e2e"),
        {
            "one": {"binding": "redirect"},
            "two": {"binding": "post"},
            "sealed": {"encrypt": True},
            "stranger": {},
        },
    )


@pytest.fixture
def browser() -> Iterator[SamlBrowser]:
    agent = SamlBrowser()
    yield agent
    agent.close()


def signed_in(browser: SamlBrowser, sp: RunningSp) -> dict[str, object]:
    data = browser.sp_session(sp)
    assert data["signed_in"], data
    return data


def cas_ticket(browser: SamlBrowser, base: str, *, password: bool) -> str:
    """A CAS service ticket for CAS_SERVICE: through the form, or from the session alone."""
    shown = browser.session.get(
        base + "/login", params={"service": CAS_SERVICE}, allow_redirects=False, timeout=10
    )
    if password:
        assert shown.status_code == 200 and SIGN_IN_TITLE in shown.text, shown.text[:500]
        form = next(f for f in read_page(shown.text).forms if "password" in f.names)
        data = {**form.fields, "username": "alice", "password": PASSWORD}
        shown = browser.session.post(base + "/login", data=data, allow_redirects=False, timeout=10)
    assert shown.status_code == 302, shown.text[:800]
    location = shown.headers["Location"]
    assert location.startswith(CAS_SERVICE), location
    return parse_qs(urlsplit(location).query)["ticket"][0]


def validate(base: str, ticket: str) -> str | None:
    answer = requests.get(
        base + "/p3/serviceValidate", params={"service": CAS_SERVICE, "ticket": ticket}, timeout=10
    )
    user = etree.fromstring(answer.content).findtext(".//cas:user", namespaces=CAS_NS)
    return None if user is None else str(user)


def password_asked(browser: SamlBrowser) -> bool:
    return any("/login" in step and "POST" in step for step in browser.visited)


# --- SP-initiated sign-in -----------------------------------------------------------------


def test_sp_initiated_with_the_redirect_binding(saml: SamlDeployment, browser: SamlBrowser) -> None:
    sp = saml.sp("one")
    final = browser.sign_in(sp)
    assert final.status_code == 200 and final.url.rstrip("/") == sp.base
    assert any(f"GET {saml.base}/idp/sso?SAMLRequest=" in s for s in browser.visited)
    data = signed_in(browser, sp)
    assert data["idp"] == f"{saml.base}/idp/metadata"
    assert data["name_id_format"] == "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
    assert data["name_id"] and "alice" not in str(data["name_id"])  # never the login
    attributes = data["attributes"]
    assert isinstance(attributes, dict)
    assert attributes["mail"] == ["alice@example.org"]
    assert attributes["eduPersonPrincipalName"] == ["alice@example.org"]
    assert "student@example.org" in attributes["eduPersonScopedAffiliation"]
    pairwise = attributes["pairwise-id"][0]
    assert pairwise.endswith("@example.org") and not pairwise.startswith("alice")
    assert data["encrypted"] is False and data["unsolicited"] is False
    assert "PasswordProtectedTransport" in str(data["authn_context"])
    # The SP's home page shows who signed in and what was released.
    home = visible_text(browser.get(sp.url("/")).text)
    assert "Connecté" in home and "alice@example.org" in home


def test_sp_initiated_with_the_post_binding(saml: SamlDeployment, browser: SamlBrowser) -> None:
    sp = saml.sp("two")
    browser.sign_in(sp)
    assert any(s.startswith(f"POST {saml.base}/idp/sso ") for s in browser.visited)
    assert not any(f"GET {saml.base}/idp/sso?" in s for s in browser.visited)
    data = signed_in(browser, sp)
    assert data["attributes"]["mail"] == ["alice@example.org"]  # type: ignore[index]


def test_a_second_sp_signs_in_without_the_password(
    saml: SamlDeployment, browser: SamlBrowser
) -> None:
    browser.sign_in(saml.sp("one"))
    first = signed_in(browser, saml.sp("one"))
    browser.visited.clear()
    final = browser.get(saml.sp("two").url("/saml/login"))
    assert final.url.startswith(saml.sp("two").base), browser.explain(final)
    assert SIGN_IN_TITLE not in final.text and not password_asked(browser)
    second = signed_in(browser, saml.sp("two"))
    # Transient NameIDs and pairwise ids differ from one SP to the other.
    assert second["name_id"] != first["name_id"]
    assert second["attributes"]["pairwise-id"] != first["attributes"]["pairwise-id"]  # type: ignore[index]
    assert second["attributes"]["mail"] == ["alice@example.org"]  # type: ignore[index]


def test_cas_sign_in_then_saml_without_the_password(
    saml: SamlDeployment, browser: SamlBrowser
) -> None:
    ticket = cas_ticket(browser, saml.base, password=True)
    assert validate(saml.base, ticket) == "alice"
    browser.visited.clear()
    final = browser.get(saml.sp("one").url("/saml/login"))
    assert final.url.startswith(saml.sp("one").base), browser.explain(final)
    assert not password_asked(browser)
    assert signed_in(browser, saml.sp("one"))["attributes"]["mail"] == ["alice@example.org"]  # type: ignore[index]


def test_saml_sign_in_then_cas_without_the_password(
    saml: SamlDeployment, browser: SamlBrowser
) -> None:
    browser.sign_in(saml.sp("one"))
    ticket = cas_ticket(browser, saml.base, password=False)
    assert validate(saml.base, ticket) == "alice"


def test_idp_initiated_sign_in(saml: SamlDeployment, browser: SamlBrowser) -> None:
    sp = saml.sp("one")
    shown = browser.get(
        saml.base + "/idp/unsolicited",
        params={"providerId": sp.spec.entity_id, "shire": sp.url("/saml/acs"), "target": "/"},
    )
    final = browser.sign_in_form(shown)
    assert final.url.startswith(sp.base), browser.explain(final)
    data = signed_in(browser, sp)
    assert data["unsolicited"] is True
    assert data["attributes"]["mail"] == ["alice@example.org"]  # type: ignore[index]
    # With the session now open, a second unsolicited sign-in needs no password.
    other = SamlBrowser()
    other.session.cookies.update(browser.session.cookies)
    try:
        again = other.get(
            saml.base + "/idp/unsolicited",
            params={"providerId": saml.sp("two").spec.entity_id},
        )
        assert again.url.startswith(saml.sp("two").base), other.explain(again)
        assert signed_in(other, saml.sp("two"))["unsolicited"] is True
    finally:
        other.close()


# --- encryption, ForceAuthn, IsPassive, contexts ---------------------------------------------


def test_encrypted_assertion_for_an_sp_with_an_encryption_key(
    saml: SamlDeployment, browser: SamlBrowser
) -> None:
    sp = saml.sp("sealed")
    metadata = requests.get(sp.url("/saml/metadata"), timeout=10).text
    assert 'use="encryption"' in metadata
    browser.sign_in(sp)
    data = signed_in(browser, sp)
    assert data["encrypted"] is True
    assert data["attributes"]["mail"] == ["alice@example.org"]  # type: ignore[index]
    # The SP without an encryption key gets the assertion in clear (policy "metadata").
    browser.get(saml.sp("one").url("/saml/login"))
    assert signed_in(browser, saml.sp("one"))["encrypted"] is False


def test_force_authn_asks_for_the_password_again(
    saml: SamlDeployment, browser: SamlBrowser
) -> None:
    sp = saml.sp("one")
    browser.sign_in(sp)
    before = signed_in(browser, sp)
    browser.visited.clear()
    shown = browser.get(sp.url("/saml/login?force_authn=1"))
    assert SIGN_IN_TITLE in shown.text, browser.explain(shown)  # despite the live session
    final = browser.sign_in_form(shown)
    assert final.url.startswith(sp.base), browser.explain(final)
    after = signed_in(browser, sp)
    assert after["session_index"] != before["session_index"]
    assert after["authn_instant"] >= before["authn_instant"]  # type: ignore[operator]


def test_is_passive_without_a_session_answers_no_passive(
    saml: SamlDeployment, browser: SamlBrowser
) -> None:
    sp = saml.sp("one")
    final = browser.get(sp.url("/saml/login?is_passive=1"))
    assert final.url.startswith(sp.base), browser.explain(final)  # back at the SP, no form
    assert SIGN_IN_TITLE not in final.text
    assert not password_asked(browser)
    data = browser.sp_session(sp)
    assert data["signed_in"] is False
    assert NO_PASSIVE in visible_text(final.text), browser.explain(final)


def test_is_passive_with_a_session_signs_in_silently(
    saml: SamlDeployment, browser: SamlBrowser
) -> None:
    browser.sign_in(saml.sp("one"))
    browser.visited.clear()
    final = browser.get(saml.sp("two").url("/saml/login?is_passive=1"))
    assert final.url.startswith(saml.sp("two").base), browser.explain(final)
    assert not password_asked(browser)
    assert signed_in(browser, saml.sp("two"))["attributes"]["mail"] == ["alice@example.org"]  # type: ignore[index]


def test_an_unknown_authn_context_answers_no_authn_context(
    saml: SamlDeployment, browser: SamlBrowser
) -> None:
    sp = saml.sp("one")
    browser.sign_in(sp)
    final = browser.get(
        sp.url("/saml/login?authn_context=urn:example:no-such-context&comparison=exact")
    )
    assert final.url.startswith(sp.base), browser.explain(final)
    assert "NoAuthnContext" in visible_text(final.text), browser.explain(final)


# --- refusals ----------------------------------------------------------------------------------


def test_a_replayed_authn_request_is_refused(saml: SamlDeployment, browser: SamlBrowser) -> None:
    sp = saml.sp("one")
    browser.sign_in(sp)  # a live session: the first request is answered at once
    start = browser.get(sp.url("/saml/login"), follow=False)
    assert start.status_code == 302
    request_url = start.headers["Location"]
    assert request_url.startswith(f"{saml.base}/idp/sso?")
    first = browser.get(request_url)
    assert first.url.startswith(sp.base), browser.explain(first)
    assert signed_in(browser, sp)
    replayed = browser.session.get(request_url, timeout=10, allow_redirects=False)
    assert replayed.status_code == 400, replayed.text[:800]
    assert "SAMLResponse" not in replayed.text
    # Another browser (no session) replaying it is refused just the same.
    stranger = requests.get(request_url, timeout=10, allow_redirects=False)
    assert stranger.status_code == 400


def test_an_unknown_sp_gets_a_clear_error_page(saml: SamlDeployment, browser: SamlBrowser) -> None:
    sp = saml.sp("stranger")
    final = browser.get(sp.url("/saml/login"))
    assert final.status_code == 400, browser.explain(final)
    assert final.url.startswith(f"{saml.base}/idp/sso")
    assert "SAMLResponse" not in final.text and "Traceback" not in final.text
    assert "html" in final.headers["Content-Type"]
    assert browser.sp_session(sp)["signed_in"] is False
    # The IdP never failed with a server error while the SPs were served.
    assert "Traceback" not in tail(saml.log, 200_000)
