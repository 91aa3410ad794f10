"""REFEDS MFA on SAML: the step-up goes through the CAS second-factor pages (#14, #18)."""

from __future__ import annotations

from flask import Flask
from saml2.saml import AuthnContextClassRef
from saml2.samlp import RequestedAuthnContext

from cas_server.protocol.saml2.authn_context import REFEDS_MFA
from cas_server.protocol.saml2.errors import NO_PASSIVE
from tests.web.cas.mfa_sign_in_support import MfaBrowser, location, totp, with_totp
from tests.web.saml.saml_web_support import SP1, SP3, SamlSp, local

MFA = RequestedAuthnContext(
    authn_context_class_ref=[AuthnContextClassRef(text=REFEDS_MFA)], comparison="exact"
)


def _context(answer: object) -> str:
    statement = answer.assertion.authn_statement[0]  # type: ignore[attr-defined]
    return str(statement.authn_context.authn_context_class_ref.text)


def test_refeds_mfa_steps_up_a_password_session(app: Flask) -> None:
    _, secret = with_totp(app)
    browser = MfaBrowser(app.test_client())
    signed_in = browser.password("https://app.example.org/")
    assert signed_in.status_code == 302  # a password-only session
    sp = SamlSp(browser.client, SP1)
    first = sp.send(requested_authn_context=MFA)
    assert first.status_code == 303
    assert "%2Fidp%2Fresume%2Fmfa" in location(first)
    step = browser.get(local(location(first)))
    assert location(step).endswith("/login/mfa"), location(step)
    back = browser.code(totp(secret))
    assert back.status_code == 302 and "/idp/resume/mfa?key=" in location(back)
    answer = sp.response(browser.get(local(location(back))))
    assert _context(answer) == REFEDS_MFA
    # The session now has the factor: the next MFA request asks nothing.
    assert _context(sp.response(sp.send(requested_authn_context=MFA))) == REFEDS_MFA


def test_a_policy_that_requires_mfa_steps_up_too(app: Flask) -> None:
    _, secret = with_totp(app)
    browser = MfaBrowser(app.test_client())
    browser.password("https://app.example.org/")
    sp = SamlSp(browser.client, SP3)
    first = sp.send()
    step = browser.get(local(location(first)))
    assert location(step).endswith("/login/mfa")
    back = browser.code(totp(secret))
    assert _context(sp.response(browser.get(local(location(back))))) == REFEDS_MFA


def test_passive_and_a_second_factor_needed_answers_no_passive(app: Flask) -> None:
    with_totp(app)
    browser = MfaBrowser(app.test_client())
    browser.password("https://app.example.org/")
    sp = SamlSp(browser.client, SP1)
    page = sp.send(requested_authn_context=MFA, is_passive="true")
    assert sp.status_of(page)[1] == NO_PASSIVE


def test_without_mfa_the_password_context_is_asserted(app: Flask) -> None:
    with_totp(app)
    browser = MfaBrowser(app.test_client())
    browser.password("https://app.example.org/")
    sp = SamlSp(browser.client, SP1)
    assert _context(sp.response(sp.send())) != REFEDS_MFA
