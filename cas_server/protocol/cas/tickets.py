"""Ticket identifiers and ticket records (CAS Protocol 3.0, section 3).

Identifiers come from :mod:`secrets` in one function. They carry 131 bits of
randomness written in base 62, so that a service ticket stays within the 32
characters every client MUST accept (3.1.1) and uses only ``[A-Za-z0-9-]``
(3.7).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

SERVICE_TICKET = "ST"
PROXY_TICKET = "PT"
PROXY_GRANTING_TICKET = "PGT"
PROXY_GRANTING_TICKET_IOU = "PGTIOU"
TICKET_GRANTING_TICKET = "TGT"

PREFIXES = (
    SERVICE_TICKET,
    PROXY_TICKET,
    PROXY_GRANTING_TICKET,
    PROXY_GRANTING_TICKET_IOU,
    TICKET_GRANTING_TICKET,
)

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_RANDOM_CHARS = 22  # 62**22 > 2**131
_SPACE = 62**_RANDOM_CHARS

# What a well-formed identifier of ours looks like; anything else is refused
# before the store is asked (oversized values, odd bytes, unknown prefixes).
TICKET_ID_RE = re.compile(r"(ST|PT|PGT|PGTIOU|TGT)-[0-9A-Za-z]{22}")
MAX_TICKET_LENGTH = 256


def new_ticket_id(prefix: str) -> str:
    """A fresh, unguessable ticket id such as ``ST-3xQ...`` (3.1.1, 3.7)."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown ticket prefix {prefix!r}")
    n = secrets.randbelow(_SPACE)
    chars = []
    for _ in range(_RANDOM_CHARS):
        n, r = divmod(n, 62)
        chars.append(_ALPHABET[r])
    return f"{prefix}-{''.join(chars)}"


def ticket_prefix(ticket_id: str) -> str | None:
    """The prefix of a well-formed ticket id, or None for anything else."""
    if len(ticket_id) > MAX_TICKET_LENGTH:
        return None
    m = TICKET_ID_RE.fullmatch(ticket_id)
    return m.group(1) if m else None


def ticket_digest(ticket_id: str) -> str:
    """The key a store files a ticket under: a dump of the store holds no usable ticket."""
    return hashlib.sha256(ticket_id.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """The authenticated user: the id returned in ``cas:user`` and their attributes."""

    id: str
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


# The words the protocol and the audit trail use for how someone proved who
# they are: the password, then second factors.
PASSWORD = "password"  # noqa: S105 - a method name, not a secret
SECOND_FACTORS = ("totp", "webauthn", "email", "sms", "recovery_code", "trusted_device")
PASSWORD_ONLY = (PASSWORD,)


@dataclass(frozen=True)
class Authentication:
    """How and when the principal proved their identity (CAS 3.0 attributes).

    ``methods`` lists what was satisfied in this SSO session, in order and
    each once; ``mfa_at`` is when a second factor was last satisfied (None:
    the password alone).
    """

    principal: Principal
    authenticated_at: float
    long_term: bool = False  # remember-me: longTermAuthenticationRequestTokenUsed
    methods: tuple[str, ...] = PASSWORD_ONLY
    mfa_at: float | None = None
    # The operator's login when a help-desk operator acts as ``principal``
    # (impersonation, #15); None for the principal's own sign-in.
    surrogate: str | None = None

    @property
    def second_factor(self) -> bool:
        return self.mfa_at is not None

    def with_second_factor(self, method: str, at: float) -> Authentication:
        """This authentication once ``method`` (a second factor) was satisfied at ``at``."""
        if method not in SECOND_FACTORS:
            raise ValueError(f"not a second factor: {method!r}")
        methods = self.methods if method in self.methods else (*self.methods, method)
        return replace(self, methods=methods, mfa_at=at)


@dataclass(frozen=True)
class SessionClient:
    """Where an SSO session was opened: shown to its owner and the help desk."""

    ip: str | None = None
    user_agent: str | None = None  # truncated to USER_AGENT_MAX characters
    network: str | None = None  # the [sessions] networks label key, or None
    public: bool | None = None  # the "public computer" choice; None: not asked


USER_AGENT_MAX = 400


@dataclass(frozen=True)
class TicketGrantingTicket:
    """The SSO session (3.8). ``idle_timeout`` is per session (public/private computer)."""

    id: str
    authentication: Authentication
    created_at: float
    expires_at: float  # hard limit
    idle_timeout: float
    last_used_at: float
    client: SessionClient | None = None

    def is_expired(self, now: float) -> bool:
        return now >= self.expires_at or now >= self.last_used_at + self.idle_timeout


# A store may record a session's use only when the last recorded one is this
# old: a tenth of the idle timeout, at most a minute. The session then ends
# at most that much earlier than the exact idle timeout, and issuing a
# service ticket is a single write most of the time.
TOUCH_FRACTION = 0.1
TOUCH_AT_MOST = 60.0


def touch_due(tgt: TicketGrantingTicket, now: float) -> bool:
    """Whether a use of the session at ``now`` must be recorded (see TOUCH_FRACTION)."""
    return now - tgt.last_used_at >= min(TOUCH_AT_MOST, tgt.idle_timeout * TOUCH_FRACTION)


@dataclass(frozen=True)
class ServiceTicket:
    """A service ticket (3.1) or, with ``proxies`` set, a proxy ticket (3.2).

    ``tgt_id`` is the id of the root SSO session, so that a logout removes
    every ticket that descends from it, proxy tickets included.
    ``logout_url`` is set when the service asked for single logout, so that
    the session knows whom to notify without asking the registry again.
    """

    id: str
    service: str
    service_id: str
    tgt_id: str
    authentication: Authentication
    from_new_login: bool
    created_at: float
    expires_at: float
    proxies: tuple[str, ...] = ()
    logout_url: str | None = None

    @property
    def is_proxy_ticket(self) -> bool:
        return self.id.startswith(PROXY_TICKET + "-")

    def is_expired(self, now: float) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True)
class ProxyGrantingTicket:
    """A proxy-granting ticket (3.3); ``proxies`` is the chain, most recent first."""

    id: str
    tgt_id: str
    service_id: str
    authentication: Authentication
    proxies: tuple[str, ...]
    created_at: float
    expires_at: float

    def is_expired(self, now: float) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True)
class SingleLogoutTarget:
    """A service to notify when the session it got a ticket from ends."""

    service: str
    service_id: str
    logout_url: str
    ticket_id: str


@dataclass(frozen=True)
class TicketLifetimes:
    """Lifetimes in seconds; defaults are Apereo CAS's."""

    service_ticket: float = 10
    proxy_ticket: float = 10
    proxy_granting_ticket: float = 7200
    tgt_idle: float = 7200
    tgt_hard: float = 28800
    tgt_long_term: float = 1209600  # remember-me: 14 days
