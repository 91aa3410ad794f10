"""Rules of self-registration by external users (issue #16, part 1; Metamots' "Créer un compte").

* Who may ask: an address whose domain the configuration allows (``allowed_domains``)
  or does not deny (``denied_domains``); every domain when neither is set. A domain
  entry covers its subdomains (``example.org`` covers ``mail.example.org``).
* The login: a configurable pattern (``{given}.{family}`` by default: "prénom.nom"),
  transliterated to lowercase ASCII, with a number on collision (``jean.dupont2``).
* The request's life: ``mailed`` (the link is on its way; nothing can sign in) →
  ``confirmed`` (the account exists) or ``awaiting_approval`` (an operator decides)
  → ``approved`` / ``refused``; or ``expired`` when the link was not followed.
* Throttling: per address and per network (an IPv4 /24, an IPv6 /56 by default),
  counted before any work.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from .identity import normalize_email
from .model import MAX_LOGIN_LENGTH

DEFAULT_PATTERN = "{given}.{family}"
PLACEHOLDERS = ("given", "family", "given_initial", "family_initial")
MAX_BASE_LENGTH = 100  # leaves room for the collision number
MAX_COLLISIONS = 10_000
# Letters NFKD does not decompose into ASCII.
SPECIAL_LETTERS = {
    "ß": "ss",
    "æ": "ae",
    "œ": "oe",
    "ø": "o",
    "ł": "l",
    "đ": "d",
    "ð": "d",
    "þ": "th",
    "ı": "i",
}
_PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)\}")


class RegistrationStatus(StrEnum):
    MAILED = "mailed"
    CONFIRMED = "confirmed"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    REFUSED = "refused"
    EXPIRED = "expired"


class PatternError(ValueError):
    pass


def transliterate(text: str) -> str:
    """``"Éloïse Le Goff-Dûrand"`` → ``"eloise-le-goff-durand"``: NFKD, marks dropped,
    lowercase, only ``[a-z0-9.-]`` kept (anything else becomes one hyphen)."""
    lowered = unicodedata.normalize("NFKC", text).casefold()
    lowered = "".join(SPECIAL_LETTERS.get(ch, ch) for ch in lowered)
    decomposed = unicodedata.normalize("NFKD", lowered)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    kept = re.sub(r"[^a-z0-9.-]+", "-", stripped)
    kept = re.sub(r"-{2,}", "-", kept)
    kept = re.sub(r"\.{2,}", ".", kept)
    return kept.strip("-.")


def check_pattern(pattern: str) -> str:
    """The pattern, or :class:`PatternError` naming what is wrong."""
    names = _PLACEHOLDER_RE.findall(pattern)
    unknown = [n for n in names if n not in PLACEHOLDERS]
    if unknown:
        raise PatternError(f"unknown placeholder {{{unknown[0]}}} (use {', '.join(PLACEHOLDERS)})")
    if not names:
        raise PatternError("must contain {given} or {family}")
    literal = _PLACEHOLDER_RE.sub("", pattern)
    if transliterate(literal) != literal.strip("-.") or "{" in literal or "}" in literal:
        raise PatternError("only lowercase letters, digits, dots and hyphens outside placeholders")
    return pattern


def base_login(pattern: str, given_name: str, family_name: str) -> str:
    """The login the pattern makes of these names, before any collision number."""
    given, family = transliterate(given_name), transliterate(family_name)
    values = {
        "given": given,
        "family": family,
        "given_initial": given[:1],
        "family_initial": family[:1],
    }
    login = _PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], pattern)
    login = re.sub(r"\.{2,}", ".", login).strip("-.")
    return login[:MAX_BASE_LENGTH].strip("-.") or "user"


def login_candidates(base: str) -> Iterator[str]:
    """``base``, then ``base2``, ``base3``… (a number on collision)."""
    yield base[:MAX_LOGIN_LENGTH]
    for n in range(2, MAX_COLLISIONS):
        yield f"{base}{n}"[:MAX_LOGIN_LENGTH]


def email_domain(email: str) -> str:
    """The domain of an address ("" if it has none)."""
    local, at, domain = normalize_email(email).rpartition("@")
    return domain.rstrip(".") if at and local else ""


def normalize_domain(domain: str) -> str:
    return domain.strip().lower().lstrip("@").lstrip("*").lstrip(".").rstrip(".")


def _covers(entry: str, domain: str) -> bool:
    return domain == entry or domain.endswith("." + entry)


def domain_allowed(email: str, allowed: Iterable[str], denied: Iterable[str]) -> bool:
    """May this address ask for an account? Allowed list first (when set), then denied."""
    domain = email_domain(email)
    if not domain:
        return False
    allowed = tuple(allowed)
    if allowed and not any(_covers(entry, domain) for entry in allowed):
        return False
    return not any(_covers(entry, domain) for entry in denied)


def network_of(ip: str, v4_prefix: int = 24, v6_prefix: int = 56) -> str:
    """The network an address is counted in: ``203.0.113.7`` → ``203.0.113.0/24``.

    An IPv6 host often has a whole /64 or more: counting single addresses would
    let it ask without end. Something that is no address is counted as it is.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    prefix = v4_prefix if address.version == 4 else v6_prefix
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


@dataclass(frozen=True)
class Applicant:
    """What the form asks (Metamots' facts, so that the "facts" reset path works later)."""

    email: str
    given_name: str
    family_name: str
    country: str
    organisation_type: str
    language: str = "fr"

    def data(self, password_hash: str, charter: tuple[str, str] | None) -> dict[str, Any]:
        """The request row's ``data``: the password is kept as its hash only."""
        out: dict[str, Any] = {
            "given_name": self.given_name,
            "family_name": self.family_name,
            "country": self.country,
            "organisation_type": self.organisation_type,
            "language": self.language,
            "password_hash": password_hash,
        }
        if charter is not None:
            out["charter"] = {"id": charter[0], "version": charter[1]}
        return out


@dataclass(frozen=True)
class RegistrationRequest:
    """A request as the store returns it."""

    id: str
    email: str
    status: RegistrationStatus
    created_at: datetime
    expires_at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)
    confirmed_at: datetime | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None
    reason: str | None = None
    login: str | None = None
    account_uuid: str | None = None

    @property
    def given_name(self) -> str:
        return str(self.data.get("given_name", ""))

    @property
    def family_name(self) -> str:
        return str(self.data.get("family_name", ""))

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip() or self.email

    @property
    def language(self) -> str:
        return str(self.data.get("language") or "fr")


def public_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` without the password hash: kept once the request is decided."""
    return {k: v for k, v in data.items() if k != "password_hash"}
