"""Authentication contexts (cas_server.protocol.saml2.authn_context, SAML core 3.3.2.2.1):
unsupported exact contexts, minimum/better/maximum, REFEDS MFA step-up."""

from __future__ import annotations

import pytest

from cas_server.protocol.saml2.authn_context import (
    PASSWORD,
    PASSWORD_PROTECTED_TRANSPORT,
    REFEDS_MFA,
    REFEDS_SFA,
    UNSPECIFIED_CONTEXT,
    decide,
)
from cas_server.protocol.saml2.errors import BadRequest, NoAuthnContext

PPT = PASSWORD_PROTECTED_TRANSPORT
KERBEROS = "urn:oasis:names:tc:SAML:2.0:ac:classes:Kerberos"
X509 = "urn:oasis:names:tc:SAML:2.0:ac:classes:X509"


@pytest.mark.parametrize(
    "requested",
    [
        (KERBEROS,),
        (X509, KERBEROS),
        ("https://refeds.org/profile/MFA",),  # case matters
        ("https://refeds.org/profile/mfa/",),
        ("urn:oasis:names:tc:SAML:2.0:ac:classes:passwordprotectedtransport",),
        ("",),
    ],
)
def test_an_unsupported_exact_context_is_no_authn_context(requested: tuple[str, ...]) -> None:
    with pytest.raises(NoAuthnContext):
        decide(requested, "exact", False)


def test_exact_answers_one_of_the_requested_in_the_sps_order() -> None:
    decision = decide((KERBEROS, PPT, REFEDS_MFA), "exact", False)
    assert not decision.needs_second_factor
    assert decision.asserted(False) == PPT
    assert decision.asserted(True) == PPT  # the SP's preference, and true
    assert decide((REFEDS_SFA,), "exact", False).asserted(True) == REFEDS_SFA
    assert decide((UNSPECIFIED_CONTEXT,), "exact", False).asserted(False) == UNSPECIFIED_CONTEXT


def test_exact_mfa_needs_the_second_factor_and_never_lies_without_it() -> None:
    decision = decide((REFEDS_MFA,), "exact", False)
    assert decision.needs_second_factor
    assert decision.asserted(True) == REFEDS_MFA
    with pytest.raises(NoAuthnContext):
        decision.asserted(False)


def test_minimum_password_asserts_mfa_when_the_session_has_it() -> None:
    decision = decide((PPT,), "minimum", False)
    assert not decision.needs_second_factor
    assert decision.asserted(True) == REFEDS_MFA
    assert decision.asserted(False) == PPT
    assert decide((PASSWORD,), "minimum", False).asserted(False) == PASSWORD


def test_minimum_mfa_needs_the_second_factor() -> None:
    decision = decide((REFEDS_MFA,), "minimum", False)
    assert decision.needs_second_factor and decision.acceptable == (REFEDS_MFA,)
    with pytest.raises(NoAuthnContext):
        decision.asserted(False)


def test_better_than_password_is_mfa_and_better_than_mfa_is_nothing() -> None:
    decision = decide((PPT,), "better", False)
    assert decision.needs_second_factor
    assert decision.asserted(True) == REFEDS_MFA
    with pytest.raises(NoAuthnContext):
        decide((REFEDS_MFA,), "better", False)
    with pytest.raises(NoAuthnContext):
        decide((KERBEROS,), "better", False)


def test_maximum_never_exceeds_the_strongest_requested() -> None:
    decision = decide((PPT,), "maximum", False)
    assert not decision.needs_second_factor
    assert REFEDS_MFA not in decision.acceptable
    assert decision.asserted(True) == PPT
    top = decide((REFEDS_MFA,), "maximum", False)
    assert not top.needs_second_factor  # "as strong as possible": what the session has
    assert top.asserted(True) == REFEDS_MFA and top.asserted(False) == PPT


def test_unspecified_is_only_asserted_when_named() -> None:
    assert UNSPECIFIED_CONTEXT not in decide((PPT,), "maximum", False).acceptable
    assert decide((UNSPECIFIED_CONTEXT,), "minimum", False).asserted(False) == PPT


def test_an_sp_whose_policy_needs_mfa_always_steps_up() -> None:
    assert decide((), "exact", True).needs_second_factor
    assert decide((PPT,), "exact", True).needs_second_factor
    assert decide((PPT,), "minimum", True).asserted(True) == REFEDS_MFA
    assert decide((PPT,), "exact", True).asserted(True) == PPT  # exact is exact


def test_no_requested_context_asserts_what_the_session_did() -> None:
    decision = decide((), "exact", False)
    assert not decision.needs_second_factor
    assert decision.asserted(False) == PPT
    assert decision.asserted(True) == REFEDS_MFA


def test_bad_comparisons_and_floods_are_bad_requests() -> None:
    with pytest.raises(BadRequest):
        decide((PPT,), "atleast", False)
    with pytest.raises(BadRequest):
        decide((PPT,) * 100, "exact", False)
