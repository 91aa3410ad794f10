"""Who must use a second factor, and the limits around it (``[mfa]``, read by settings)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..model import Account


@dataclass(frozen=True)
class MfaRules:
    # An account needs a second factor if it has one of these roles, one of these
    # profiles, or one of the listed values of one of these attributes (the
    # attributes a service could be released: eduPersonAffiliation included).
    required_roles: frozenset[str] = frozenset()
    required_profiles: frozenset[str] = frozenset()
    required_attributes: Mapping[str, frozenset[str]] = field(default_factory=dict)
    grace_sign_ins: int = 3  # sign-ins let through before enrolment is forced
    trust_days: int = 0  # "trust this device" lasts this long; 0: not offered
    email_codes: bool = True  # codes by e-mail offered as a factor
    sms_codes: bool = True  # codes by SMS offered (needs an SMS backend)
    enabled: bool = True  # off: nothing asks for, or offers, a second factor
    code_ttl: float = 600.0  # e-mail and SMS codes live this long (seconds)
    attempts: int = 5  # wrong codes per account…
    attempt_window: float = 900.0  # …within this window lock as long

    def required_for(self, account: Account) -> bool:
        if not self.enabled:
            return False
        if self.required_roles & account.roles:
            return True
        if account.profile.value in self.required_profiles:
            return True
        if not self.required_attributes:
            return False
        attributes = account.principal_attributes()
        for name, wanted in self.required_attributes.items():
            have = {value.casefold() for value in attributes.get(name, ())}
            if have & {value.casefold() for value in wanted}:
                return True
        return False

    @property
    def trust_seconds(self) -> float:
        return self.trust_days * 86400.0
