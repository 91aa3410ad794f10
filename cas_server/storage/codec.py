"""How an authentication is written into a ticket store (JSON).

Shared by the ticket store adapters.
"""

from __future__ import annotations

import json
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from ..protocol.cas.tickets import PASSWORD_ONLY, Authentication, Principal


def dump_authentication(auth: Authentication) -> str:
    """The authentication as compact JSON.

    The methods (``m``), the time of the last second factor (``f``) and the
    surrogate operator (``s``) are written only when they differ from a
    password-only sign-in of one's own, so that most records stay as they were.
    """
    data: dict[str, Any] = {
        "u": auth.principal.id,
        "a": {k: list(v) for k, v in auth.principal.attributes.items()},
        "t": auth.authenticated_at,
        "l": auth.long_term,
    }
    if auth.methods != PASSWORD_ONLY:
        data["m"] = list(auth.methods)
    if auth.mfa_at is not None:
        data["f"] = auth.mfa_at
    if auth.surrogate is not None:
        data["s"] = auth.surrogate
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


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
        # Records written before the second factor have neither key.
        methods=tuple(raw["m"]) if "m" in raw else PASSWORD_ONLY,
        mfa_at=raw.get("f"),
        # Records written before impersonation (#15) have no surrogate.
        surrogate=raw.get("s"),
    )


def dump_proxies(proxies: tuple[str, ...]) -> str | None:
    return json.dumps(list(proxies)) if proxies else None


def load_proxies(data: str | None) -> tuple[str, ...]:
    return tuple(json.loads(data)) if data else ()
