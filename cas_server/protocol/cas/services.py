"""The service registry: which applications may use this server, and how.

A registered service is data plus small policies (Apereo CAS's model):
the URL pattern it answers to, attribute release, proxy permission, single
logout, theme and an access rule. Definitions are compiled once at start-up
and matched in evaluation order with a full match (never a prefix search
that ``https://evil.example/?x=https://good`` could satisfy).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

from .tickets import Principal

LOGOUT_TYPES = ("back_channel", "front_channel", "none")
MFA_POLICIES = ("optional", "required")
XML_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*")
AFFILIATION_ATTRIBUTE = "eduPersonAffiliation"


@dataclass(frozen=True)
class AccessRule:
    """Who may reach the service; empty sets mean "anyone signed in"."""

    affiliations: frozenset[str] = frozenset()
    logins: frozenset[str] = frozenset()

    def allows(self, principal: Principal) -> bool:
        if not self.affiliations and not self.logins:
            return True
        if principal.id in self.logins:
            return True
        held = principal.attributes.get(AFFILIATION_ATTRIBUTE, ())
        return any(a in self.affiliations for a in held)


@dataclass(frozen=True)
class RegisteredService:
    """One entry of the registry, compiled."""

    id: str
    name: str
    url_pattern: re.Pattern[str]
    evaluation_order: int = 0
    enabled: bool = True
    description: str = ""
    # (attribute name in the principal, name released to the service)
    release_attributes: tuple[tuple[str, str], ...] = ()
    proxy_callback_pattern: re.Pattern[str] | None = None
    logout_url: str | None = None
    logout_type: str = "back_channel"
    theme: str | None = None
    access: AccessRule = field(default_factory=AccessRule)
    source: str = ""
    # /serviceValidate and /proxyValidate answer with the same attributes block
    # as /p3 (Apereo's "v3 forward compatible"), for CAS 2.0 clients such as
    # phpCAS's CAS_VERSION_2_0. Resolved against [services] cas2_attributes
    # once, at load: validation reads a field, nothing more.
    cas2_attributes: bool = False
    # ``mfa = "required"``: no ticket from a session without a second factor.
    mfa_required: bool = False
    # ``surrogate = false``: no ticket from a session where a help-desk operator
    # acts as someone (impersonation, #15).
    surrogate: bool = True

    def matches(self, service: str) -> bool:
        return self.url_pattern.fullmatch(service) is not None

    @property
    def allows_proxy(self) -> bool:
        return self.proxy_callback_pattern is not None

    def accepts_proxy_callback(self, pgt_url: str) -> bool:
        """pgtUrl must be HTTPS and fully match the service's callback pattern (2.5.4)."""
        if self.proxy_callback_pattern is None:
            return False
        if not pgt_url.lower().startswith("https://"):
            return False
        return self.proxy_callback_pattern.fullmatch(pgt_url) is not None

    @property
    def wants_single_logout(self) -> bool:
        return self.logout_type in ("back_channel", "front_channel")

    def single_logout_url(self, service: str) -> str | None:
        """Where single logout of a ticket issued for ``service`` goes, if anywhere:
        the ``logout_url``, else the service URL itself (2.3.3, as Apereo CAS).

        Service tickets carry it from their issue: the store keeps a validated
        ticket for single logout only when it has one.
        """
        return (self.logout_url or service) if self.wants_single_logout else None

    @property
    def front_channel(self) -> bool:
        """The browser, not this server, tells the service (front-channel single logout)."""
        return self.logout_type == "front_channel"

    def release(self, attributes: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        """The attributes this service may see, renamed as configured."""
        released: dict[str, tuple[str, ...]] = {}
        for source, target in self.release_attributes:
            values = attributes.get(source)
            if values:
                released[target] = tuple(values)
        return released


class ServiceRegistry:
    """Registered services in evaluation order; lookups cached per process."""

    def __init__(self, services: Iterable[RegisteredService]) -> None:
        ordered = sorted(services, key=lambda s: (s.evaluation_order, s.id))
        ids = [s.id for s in ordered]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate service id(s): {', '.join(duplicates)}")
        self.services: tuple[RegisteredService, ...] = tuple(ordered)
        self._by_id = {s.id: s for s in ordered}
        # The same few service URLs come back on every request: remember answers.
        self.match = lru_cache(maxsize=4096)(self._match)

    def __len__(self) -> int:
        return len(self.services)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.services)

    def get(self, service_id: str) -> RegisteredService | None:
        return self._by_id.get(service_id)

    def _match(self, service: str) -> RegisteredService | None:
        """The first service, in evaluation order, whose pattern fully matches.

        A disabled service still matches: it then blocks the URL rather than
        letting a later, broader pattern accept it.
        """
        for registered in self.services:
            if registered.matches(service):
                return registered
        return None

    def find_enabled(self, service: str) -> RegisteredService | None:
        registered = self.match(service)
        return registered if registered is not None and registered.enabled else None


def normalize_service(service: str) -> str:
    """A service URL as compared at validation.

    Scheme and host are lowered, the default port and the fragment dropped.

    Clients re-encode the service they send to /serviceValidate in small
    ways; these differences must not make a good ticket fail, while any
    difference of path or query still does.
    """
    try:
        parts = urlsplit(service)
        port = parts.port
    except ValueError:
        return service
    if not parts.scheme or not parts.netloc:
        return service
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and not (
        (scheme == "https" and port == 443) or (scheme == "http" and port == 80)
    ):
        host = f"{host}:{port}"
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}" if userinfo else host
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def same_service(a: str, b: str) -> bool:
    return a == b or normalize_service(a) == normalize_service(b)
