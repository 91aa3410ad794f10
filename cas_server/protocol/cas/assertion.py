"""The outcome of a successful validation, whatever the response format."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime


def iso8601(timestamp: float) -> str:
    """UTC timestamp as CAS and SAML write it: ``2026-11-22T13:45:00Z``."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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

    def protocol_attributes(self) -> dict[str, tuple[str, ...]]:
        """The authentication attributes every CAS 3.0 response carries."""
        return {
            "authenticationDate": (iso8601(self.authenticated_at),),
            "longTermAuthenticationRequestTokenUsed": ("true" if self.long_term else "false",),
            "isFromNewLogin": ("true" if self.from_new_login else "false",),
        }

    def all_attributes(self) -> dict[str, tuple[str, ...]]:
        """Protocol attributes first (Appendix A order), then the released ones.

        A released attribute never overrides a protocol attribute.
        """
        merged = self.protocol_attributes()
        for name, values in self.attributes.items():
            merged.setdefault(name, values)
        return merged
