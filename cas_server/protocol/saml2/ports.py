"""Ports of the SAML rules; adapters (storage/sql/saml.py) implement them.

The SAML and CAS protocols share the SSO session only through
``session_handle``: the digest of the session's ticket id that the CAS
side publishes (``cas_server.protocol.cas.tickets.ticket_digest``), never
through each other's modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SamlParticipant:
    """An SP that received an assertion in a session: whom single logout tells (core 3.7)."""

    session_handle: str  # ticket_digest(tgt.id)
    sp_entity_id: str
    name_id: str
    name_id_format: str
    session_index: str
    created_at: float


class SamlSessionStore(Protocol):
    def record(self, p: SamlParticipant, expires_at: float) -> None:
        """Remember ``p`` until ``expires_at`` (the session's hard limit)."""
        ...

    def participants(self, session_handle: str) -> list[SamlParticipant]:
        """The session's participants, oldest first."""
        ...

    def forget(self, session_handle: str) -> int:
        """Forget the session's participants; how many went."""
        ...

    def purge(self, now: float) -> int:
        """Forget participants expired at ``now``; how many went."""
        ...


@dataclass(frozen=True)
class Consent:
    """What a person accepted to release to one SP (names only, never values)."""

    sp_entity_id: str
    digest: str  # consent.consent_digest(sp_entity_id, attributes)
    attributes: tuple[str, ...]
    given_at: float


class ConsentStore(Protocol):
    def get(self, account_uuid: str, sp_entity_id: str) -> Consent | None: ...

    def remember(self, account_uuid: str, consent: Consent) -> None:
        """Insert or replace the account's consent for ``consent.sp_entity_id``."""
        ...

    def revoke(self, account_uuid: str, sp_entity_id: str) -> bool:
        """Forget it; False when there was none."""
        ...

    def list_for(self, account_uuid: str) -> list[Consent]:
        """The account's consents, newest first."""
        ...
