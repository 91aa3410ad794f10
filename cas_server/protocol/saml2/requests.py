"""What the binding parsed from an ``<samlp:AuthnRequest>`` (SAML core 3.4.1).

The rules and the web layer work on :class:`AuthnRequestInfo`, never on XML.
Construction checks what the spec bounds (RelayState size, the comparison
word), so a value outside them is a :class:`~.errors.BadRequest` whoever built it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .errors import BadRequest

EXACT = "exact"
MINIMUM = "minimum"
MAXIMUM = "maximum"
BETTER = "better"
COMPARISONS = (EXACT, MINIMUM, MAXIMUM, BETTER)  # core 3.3.2.2.1

# Bindings 3.4.3, 3.5.3: RelayState MUST NOT exceed 80 bytes; SPs in the wild send
# more (Shibboleth's "ss:mem:" keys fit, some URLs do not): up to 1024 is accepted.
RELAY_STATE_SPEC = 80
MAX_RELAY_STATE = 1024
MAX_ENTITY_ID = 1024  # metadata 2.3.2: entityID is at most 1024 characters
MAX_REQUEST_ID = 256

REQUEST_ID_WINDOW: float = 600.0  # seconds a request id is remembered (counters.hit window)


@dataclass(frozen=True)
class AuthnRequestInfo:
    sp_entity_id: str
    request_id: str | None  # None: unsolicited (IdP-initiated, profiles 4.1.5)
    acs_url: str  # checked against the SP's metadata by the binding
    acs_binding: str  # binding URN of the ACS (HTTP-POST normally)
    relay_state: str | None
    force_authn: bool = False
    is_passive: bool = False
    name_id_format: str | None = None  # NameIDPolicy/@Format; None = unspecified
    allow_create: bool = True
    requested_contexts: tuple[str, ...] = ()  # RequestedAuthnContext class refs
    comparison: str = EXACT
    issue_instant: float | None = None

    def __post_init__(self) -> None:
        if not self.sp_entity_id or len(self.sp_entity_id) > MAX_ENTITY_ID:
            raise BadRequest("missing or oversized Issuer")
        if self.request_id is not None and not 0 < len(self.request_id) <= MAX_REQUEST_ID:
            raise BadRequest("empty or oversized request ID")
        if self.relay_state is not None and len(self.relay_state.encode()) > MAX_RELAY_STATE:
            raise BadRequest(f"RelayState over {MAX_RELAY_STATE} bytes")
        if self.comparison not in COMPARISONS:
            raise BadRequest(f"unknown AuthnContextComparison {self.comparison[:40]!r}")

    @property
    def unsolicited(self) -> bool:
        return self.request_id is None


def replay_key(sp_entity_id: str, request_id: str) -> str:
    """The counter key of one request id of one SP: seen twice within the window is a replay.

    Hashed: ids and entity ids are attacker-chosen text of any length and bytes.
    """
    digest = hashlib.sha256(f"{len(sp_entity_id)}:{sp_entity_id}|{request_id}".encode())
    return "saml-request:" + digest.hexdigest()
