"""Authentication contexts: what a request asks (SAML core 3.3.2.2.1) and what we assert.

This server proves a password over TLS (``PasswordProtectedTransport``, the
REFEDS single-factor profile) and, with the second-factor module, the REFEDS
MFA profile. Strength, as this responder deems it (core 3.3.2.2.1 leaves it to
us): ``unspecified`` < password classes < REFEDS MFA. An ``exact`` request of
a class we do not know (``Kerberos``, ``X509``…) is answered NoAuthnContext,
never with another class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import BadRequest, NoAuthnContext
from .requests import BETTER, EXACT, MAXIMUM, MINIMUM

_AC = "urn:oasis:names:tc:SAML:2.0:ac:classes:"
UNSPECIFIED_CONTEXT = _AC + "unspecified"
PASSWORD = _AC + "Password"
PASSWORD_PROTECTED_TRANSPORT = _AC + "PasswordProtectedTransport"
REFEDS_SFA = "https://refeds.org/profile/sfa"
REFEDS_MFA = "https://refeds.org/profile/mfa"

SINGLE, MULTI = 1, 2
# Every class we can assert, and its strength.
STRENGTH: dict[str, int] = {
    REFEDS_MFA: MULTI,
    PASSWORD_PROTECTED_TRANSPORT: SINGLE,  # first of its strength: what we usually say
    REFEDS_SFA: SINGLE,  # REFEDS SFA 1.0: an MFA authentication also meets it
    PASSWORD: SINGLE,
    UNSPECIFIED_CONTEXT: 0,
}
MAX_REQUESTED = 32


@dataclass(frozen=True)
class ContextDecision:
    """What the session must have, and which class ref the AuthnStatement carries."""

    needs_second_factor: bool  # the session must pass (or step up to) a second factor
    acceptable: tuple[str, ...] = ()  # classes that answer the request, preferred first
    requested: bool = False  # the SP asked a RequestedAuthnContext

    def asserted(self, session_has_mfa: bool) -> str:
        """The class ref to put in the AuthnStatement for a session with or without MFA.

        Raises NoAuthnContext when only MFA answers and the session has none (the web
        layer steps up first: reaching this is a bug, and we do not lie to the SP).
        """
        if not self.requested:
            return REFEDS_MFA if session_has_mfa else PASSWORD_PROTECTED_TRANSPORT
        for ref in self.acceptable:
            if STRENGTH[ref] < MULTI or session_has_mfa:
                return ref
        raise NoAuthnContext("the requested context needs a second factor")


def decide(requested: Sequence[str], comparison: str, policy_mfa: bool) -> ContextDecision:
    """The decision for RequestedAuthnContext ``requested`` compared by ``comparison``.

    ``policy_mfa``: the SP's release policy always needs a second factor. Raises
    NoAuthnContext when no context we assert answers the request (core 3.3.2.2.1).
    """
    if comparison not in (EXACT, MINIMUM, MAXIMUM, BETTER):
        raise BadRequest(f"unknown comparison {comparison[:40]!r}")
    if not requested:
        return ContextDecision(needs_second_factor=policy_mfa)
    if len(requested) > MAX_REQUESTED:
        raise BadRequest("too many requested authentication contexts")
    known = [r for r in requested if r in STRENGTH]
    if not known:
        raise NoAuthnContext("no requested authentication context is supported")
    levels = [STRENGTH[r] for r in known]
    if comparison == EXACT:
        candidates: list[str] = list(dict.fromkeys(known))
    elif comparison == MINIMUM:  # at least as strong as one of them
        candidates = [r for r, s in STRENGTH.items() if s >= min(levels)]
    elif comparison == BETTER:  # stronger than every one of them
        candidates = [r for r, s in STRENGTH.items() if s > max(levels)]
    else:  # MAXIMUM: as strong as possible, not above the strongest of them
        candidates = [r for r, s in STRENGTH.items() if s <= max(levels)]
    if comparison != EXACT and UNSPECIFIED_CONTEXT not in known:
        # "unspecified" says nothing: only asserted when asked by name.
        candidates = [r for r in candidates if r != UNSPECIFIED_CONTEXT]
    if not candidates:
        raise NoAuthnContext(f"nothing {comparison} than the requested contexts")
    ordered = tuple(candidates) if comparison == EXACT else _strongest_first(candidates, known)
    single = any(STRENGTH[r] < MULTI for r in ordered)
    return ContextDecision(
        needs_second_factor=policy_mfa or not single,
        acceptable=ordered,
        requested=True,
    )


def _strongest_first(candidates: list[str], known: list[str]) -> tuple[str, ...]:
    """Preference among the candidates: strongest first (MFA is asserted when the session
    has it: the strongest true statement), the SP's own names first among equals."""

    def key(ref: str) -> tuple[int, int]:
        rank = known.index(ref) if ref in known else len(known)
        return (-STRENGTH[ref], rank)

    return tuple(sorted(dict.fromkeys(candidates), key=key))
