"""The ``[mfa]`` section (second factor, issue #14), checked once at start.

Like the rest of the configuration, a wrong value stops the start with the key
at fault. ``encryption_keys`` seal the TOTP seeds at rest (and, derived, key the
recovery codes' hashes): required when the second factor is on, except in the
demo and test modes, which fall back to a published key that is good for
nothing else. Give real keys as ``CAS_MFA__ENCRYPTION_KEYS`` (comma-separated),
never in a file under version control.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..accounts.mfa.rules import MfaRules
from ..accounts.mfa.sealing import check_key
from ..accounts.model import Profile
from ..accounts.throttle import Limit
from .server import ConfigError

DEFAULTS: Mapping[str, Any] = {
    "enabled": True,
    "encryption_keys": [],
    "issuer": "",
    "required_roles": [],
    "required_profiles": [],
    "required_attributes": {},
    "grace_sign_ins": 3,
    "trust_days": 0,
    "email_codes": True,
    "sms_codes": True,
    "code_ttl": 600,
    "attempts": 5,
    "attempt_window": 900,
}
#: Demo and test modes only, when no key is configured: public, so it protects nothing.
TEST_ONLY_KEY = "Y2FzLXNlcnZlci10ZXN0LW9ubHktbWZhLWtleS0zMmI="
KEYLESS_MODES = ("demo", "test")
GENERATE = (
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


@dataclass(frozen=True)
class MfaSettings:
    enabled: bool
    encryption_keys: tuple[str, ...]  # the first seals; every one opens (rotation)
    issuer: str  # the name authenticator apps show next to the login
    rules: MfaRules
    # True when no key was configured and a stand-in is used (demo and test modes,
    # or the second factor off): nothing sealed with it is protected.
    stand_in_key: bool = False

    @property
    def limit(self) -> Limit:
        """Wrong codes per account: ``attempts`` in ``attempt_window`` lock as long."""
        return Limit(self.rules.attempts, self.rules.attempt_window, self.rules.attempt_window)


def _get(section: Mapping[str, Any], key: str, kind: type) -> Any:
    value = section.get(key, DEFAULTS[key])
    if kind is not bool and isinstance(value, bool):
        raise ConfigError(f"mfa.{key}", "must not be a boolean")
    if not isinstance(value, kind):
        raise ConfigError(f"mfa.{key}", f"has the wrong type: {value!r}")
    return value


def _int(section: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value: int = _get(section, key, int)
    if not low <= value <= high:
        raise ConfigError(f"mfa.{key}", f"must be an integer between {low} and {high}")
    return value


def _strings(section: Mapping[str, Any], key: str) -> tuple[str, ...]:
    values = _get(section, key, list)
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise ConfigError(f"mfa.{key}", "must be a list of non-empty strings")
    return tuple(v.strip() for v in values)


def _attributes(section: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    table = _get(section, "required_attributes", dict)
    wanted: dict[str, frozenset[str]] = {}
    for name, values in table.items():
        listed = [values] if isinstance(values, str) else values
        if (
            not str(name).strip()
            or not isinstance(listed, list)
            or not listed
            or not all(isinstance(v, str) and v.strip() for v in listed)
        ):
            raise ConfigError(
                f"mfa.required_attributes.{name}",
                'must be a value or a list of values, e.g. eduPersonAffiliation = ["staff"]',
            )
        wanted[str(name).strip()] = frozenset(v.strip() for v in listed)
    return wanted


def _keys(section: Mapping[str, Any], enabled: bool, mode: str) -> tuple[tuple[str, ...], bool]:
    keys = section.get("encryption_keys", DEFAULTS["encryption_keys"])
    if not isinstance(keys, list):  # the value is not echoed: it may be a key
        raise ConfigError("mfa.encryption_keys", "must be a list of keys")
    for index, key in enumerate(keys, 1):
        # Never echo a key: the message names its position only.
        if not isinstance(key, str) or not check_key(key.strip()):
            raise ConfigError(
                "mfa.encryption_keys",
                f"item {index} is not a Fernet key (32 bytes, URL-safe base64); make one with "
                f"{GENERATE}",
            )
    keys = [k.strip() for k in keys]
    if len(set(keys)) != len(keys):
        raise ConfigError("mfa.encryption_keys", "the same key is listed twice")
    if keys:
        return tuple(keys), False
    if enabled and mode not in KEYLESS_MODES:
        raise ConfigError(
            "mfa.encryption_keys",
            "required when [mfa] enabled = true: the TOTP secrets are encrypted with it. "
            f"Make one with {GENERATE} and give it as CAS_MFA__ENCRYPTION_KEYS "
            "(never the Flask secret key, never in a file under version control)",
        )
    if mode in KEYLESS_MODES:
        return (TEST_ONLY_KEY,), True
    # Off: nothing is sealed (enrolment is refused); a throwaway key keeps the code simple.
    return (base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii"),), True


def load_mfa_settings(
    raw: Mapping[str, Mapping[str, Any]], *, mode: str, institution_name: str
) -> MfaSettings:
    section = raw.get("mfa", {})
    enabled = _get(section, "enabled", bool)
    keys, stand_in = _keys(section, enabled, mode)
    issuer = _get(section, "issuer", str).strip()
    if len(issuer) > 100 or ":" in issuer:
        raise ConfigError("mfa.issuer", "at most 100 characters, without a colon")
    # Apps split "issuer:login" at the colon: none in the name they show.
    issuer = issuer or " ".join(institution_name.replace(":", " ").split())[:100]
    profiles = _strings(section, "required_profiles")
    known = [p.value for p in Profile]
    if any(p not in known for p in profiles):
        raise ConfigError("mfa.required_profiles", f"must be a list among {', '.join(known)}")
    rules = MfaRules(
        required_roles=frozenset(_strings(section, "required_roles")),
        required_profiles=frozenset(profiles),
        required_attributes=_attributes(section),
        grace_sign_ins=_int(section, "grace_sign_ins", 0, 100),
        trust_days=_int(section, "trust_days", 0, 365),
        email_codes=_get(section, "email_codes", bool),
        sms_codes=_get(section, "sms_codes", bool),
        enabled=enabled,
        code_ttl=float(_int(section, "code_ttl", 60, 3600)),
        attempts=_int(section, "attempts", 1, 100),
        attempt_window=float(_int(section, "attempt_window", 60, 86400)),
    )
    return MfaSettings(
        enabled=enabled, encryption_keys=keys, issuer=issuer, rules=rules, stand_in_key=stand_in
    )
