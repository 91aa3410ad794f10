"""The ``[registration]`` section: self-registration of external users (issue #16, part 1).

Off by default. Checked once at start, like every section: a wrong value stops the
start with the key at fault. The pages need ``[sesame] enabled`` (they live under
``/sesame``, and use its mail, CAPTCHA and limits machinery).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..accounts.model import Profile
from ..accounts.registration import PatternError, check_pattern, normalize_domain
from .server import ConfigError

Raw = Mapping[str, Mapping[str, Any]]
NAME = "registration"
MAX_LINK_TTL = 86400.0  # T5: a mailed link lives at most a day
RESERVED_ATTRIBUTES = frozenset({"uid", "casUuid", "profile", "eduPersonAffiliation"})
_DOMAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")


@dataclass(frozen=True)
class RegistrationSettings:
    enabled: bool = False
    profile: Profile = Profile.EXTERNAL
    attributes: Mapping[str, tuple[str, ...]] | None = None
    allowed_domains: tuple[str, ...] = ()
    denied_domains: tuple[str, ...] = ()
    require_approval: bool = False
    login_pattern: str = "{given}.{family}"
    link_ttl: float = MAX_LINK_TTL
    max_per_address: int = 3
    max_per_network: int = 20
    window: float = 3600.0
    ipv4_prefix: int = 24
    ipv6_prefix: int = 56

    @property
    def extra_attributes(self) -> Mapping[str, tuple[str, ...]]:
        return self.attributes or {}


def _get(section: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = section.get(key, default)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise ConfigError(f"{NAME}.{key}", "must not be a boolean")
    if not isinstance(value, kinds):
        raise ConfigError(f"{NAME}.{key}", f"has the wrong type: {value!r}")
    return value


def _int(section: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = int(_get(section, key, int, default))
    if not low <= value <= high:
        raise ConfigError(f"{NAME}.{key}", f"must be between {low} and {high}")
    return value


def _domains(section: Mapping[str, Any], key: str) -> tuple[str, ...]:
    values = _get(section, key, list, [])
    out = []
    for value in values:
        domain = normalize_domain(str(value)) if isinstance(value, str) else ""
        if not domain or "." not in domain or not set(domain) <= _DOMAIN_CHARS:
            raise ConfigError(f"{NAME}.{key}", f"not a domain name: {value!r}")
        out.append(domain)
    return tuple(out)


def _attributes(section: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    raw = _get(section, "attributes", Mapping, {})
    out: dict[str, tuple[str, ...]] = {}
    for name, value in raw.items():
        key = f"{NAME}.attributes.{name}"
        if name in RESERVED_ATTRIBUTES:
            raise ConfigError(key, "is computed by the server and cannot be given")
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ConfigError(key, "must be a string or a list of strings")
        out[str(name)] = tuple(values)
    return out


def load_registration_settings(data: Raw) -> RegistrationSettings:
    section = data.get(NAME, {})
    if not isinstance(section, Mapping):
        raise ConfigError(NAME, "must be a table")
    profile_name = str(_get(section, "profile", str, Profile.EXTERNAL.value))
    try:
        profile = Profile(profile_name)
    except ValueError:
        raise ConfigError(
            f"{NAME}.profile", f"must be one of {', '.join(p.value for p in Profile)}"
        ) from None
    allowed = _domains(section, "allowed_domains")
    denied = _domains(section, "denied_domains")
    if allowed and denied:
        raise ConfigError(
            f"{NAME}.denied_domains", "give allowed_domains or denied_domains, not both"
        )
    pattern = str(_get(section, "login_pattern", str, "{given}.{family}"))
    try:
        check_pattern(pattern)
    except PatternError as exc:
        raise ConfigError(f"{NAME}.login_pattern", str(exc)) from None
    ttl = float(_get(section, "link_ttl", (int, float), MAX_LINK_TTL))
    if not 60 <= ttl <= MAX_LINK_TTL:
        raise ConfigError(f"{NAME}.link_ttl", f"must be between 60 and {int(MAX_LINK_TTL)} seconds")
    window = float(_get(section, "window", (int, float), 3600))
    if not 60 <= window <= 7 * 86400:
        raise ConfigError(f"{NAME}.window", "must be between 60 and 604800 seconds")
    return RegistrationSettings(
        enabled=bool(_get(section, "enabled", bool, False)),
        profile=profile,
        attributes=_attributes(section),
        allowed_domains=allowed,
        denied_domains=denied,
        require_approval=bool(_get(section, "require_approval", bool, False)),
        login_pattern=pattern,
        link_ttl=ttl,
        max_per_address=_int(section, "max_requests_per_address", 3, 1, 1000),
        max_per_network=_int(section, "max_requests_per_network", 20, 1, 100_000),
        window=window,
        ipv4_prefix=_int(section, "ipv4_prefix", 24, 8, 32),
        ipv6_prefix=_int(section, "ipv6_prefix", 56, 16, 128),
    )
