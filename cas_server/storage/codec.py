"""How an authentication is written into a ticket store (JSON).

Shared by the ticket store adapters.
"""

from __future__ import annotations

import json
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from ..protocol.cas.tickets import Authentication, Principal


def dump_authentication(auth: Authentication) -> str:
    return json.dumps(
        {
            "u": auth.principal.id,
            "a": {k: list(v) for k, v in auth.principal.attributes.items()},
            "t": auth.authenticated_at,
            "l": auth.long_term,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


@lru_cache(maxsize=4096)
def load_authentication(data: str) -> Authentication:
    """The authentication written by :func:`dump_authentication`.

    Remembered by its text: every ticket of a session carries the same
    one, and validation and single sign-on read it on each request. The
    result is shared, so its attributes are a read-only mapping.
    """
    raw: dict[str, Any] = json.loads(data)
    attributes = MappingProxyType({k: tuple(v) for k, v in raw["a"].items()})
    return Authentication(
        principal=Principal(raw["u"], attributes),
        authenticated_at=raw["t"],
        long_term=raw["l"],
    )


def dump_proxies(proxies: tuple[str, ...]) -> str | None:
    return json.dumps(list(proxies)) if proxies else None


def load_proxies(data: str | None) -> tuple[str, ...]:
    return tuple(json.loads(data)) if data else ()
