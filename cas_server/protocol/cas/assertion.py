"""The outcome of a successful validation, whatever the response format."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from .tickets import PASSWORD_ONLY

# REFEDS assurance profiles (https://refeds.org/profile/mfa), as Apereo CAS
# and Shibboleth write ``authnContextClass``.
MFA_CONTEXT = "https://refeds.org/profile/mfa"
SFA_CONTEXT = "https://refeds.org/profile/sfa"
# ``successfulAuthenticationHandlers``: one handler name per method.
HANDLERS = {
    "password": "PasswordAuthenticationHandler",
    "totp": "TotpAuthenticationHandler",
    "webauthn": "WebAuthnAuthenticationHandler",
    "email": "EmailCodeAuthenticationHandler",
    "sms": "SmsCodeAuthenticationHandler",
    "recovery_code": "RecoveryCodeAuthenticationHandler",
    "trusted_device": "TrustedDeviceAuthenticationHandler",
}


def iso8601(timestamp: float) -> str:
    """UTC timestamp as CAS and SAML write it: ``2026-11-22T13:45:00Z``."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=256)
def handlers(methods: tuple[str, ...]) -> tuple[str, ...]:
    """The handler name of each method (a method without one: ``<Method>AuthenticationHandler``)."""
    return tuple(
        HANDLERS.get(m) or "".join(w.capitalize() for w in m.split("_")) + "AuthenticationHandler"
        for m in methods
    )


def surrogate_attributes(user: str, operator: str) -> dict[str, tuple[str, ...]]:
    """What a service learns of an impersonation: ``user`` is the person acted as,
    ``operator`` the help-desk operator acting (Apereo CAS's attribute names)."""
    return {
        "surrogateEnabled": ("true",),
        "surrogateUser": (user,),
        "surrogatePrincipal": (operator,),
    }


@dataclass(frozen=True)
class Assertion:
    """What the service learns about the user (CAS 3.0 section 2.5.2, 2.5.7, 4.1.3).

    ``attributes`` holds the attributes released to this service, already
    renamed as the service's release policy says; values are always tuples
    (multi-valued attributes become repeated elements or JSON arrays).
    ``proxies`` is the proxy chain, most recently visited proxy first.
    """

    user: str
    service: str
    authenticated_at: float
    long_term: bool = False
    from_new_login: bool = False
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    proxies: tuple[str, ...] = ()
    pgt_iou: str | None = None
    # The service's definition asks for the attributes block on the CAS 2.0
    # endpoints too (``cas2_attributes``, Apereo's "v3 forward compatible").
    cas2_attributes: bool = False
    # How the person signed in (``Authentication.methods``, ``second_factor``).
    methods: tuple[str, ...] = PASSWORD_ONLY
    second_factor: bool = False
    # The operator's login when a help-desk operator acts as ``user`` (#15).
    surrogate: str | None = None

    def protocol_attributes(self) -> dict[str, tuple[str, ...]]:
        """The authentication attributes every CAS 3.0 response carries.

        The three of Appendix A first, then how the person signed in
        (Apereo CAS's names): the methods, their handlers and the REFEDS
        profile, ``mfa`` once a second factor was satisfied.
        """
        protocol = {
            "authenticationDate": (iso8601(self.authenticated_at),),
            "longTermAuthenticationRequestTokenUsed": ("true" if self.long_term else "false",),
            "isFromNewLogin": ("true" if self.from_new_login else "false",),
            "authenticationMethod": self.methods,
            "successfulAuthenticationHandlers": handlers(self.methods),
            "authnContextClass": (MFA_CONTEXT if self.second_factor else SFA_CONTEXT,),
        }
        if self.surrogate:
            # Apereo CAS's surrogate attributes, whatever the release policy: a
            # service must be able to tell, and refuse, a sign-in on behalf of someone.
            protocol.update(surrogate_attributes(self.user, self.surrogate))
        return protocol

    def all_attributes(self) -> dict[str, tuple[str, ...]]:
        """Protocol attributes first (Appendix A order), then the released ones.

        A released attribute never overrides a protocol attribute.
        """
        merged = self.protocol_attributes()
        for name, values in self.attributes.items():
            merged.setdefault(name, values)
        return merged
