"""NameID formats (SAML core 8.3) and the choice of one for a response (core 3.4.1.1)."""

from __future__ import annotations

from collections.abc import Sequence

from .errors import InvalidNameIdPolicy

UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"  # core 8.3.1
EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"  # core 8.3.2
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"  # core 8.3.7
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"  # core 8.3.8
ENCRYPTED = "urn:oasis:names:tc:SAML:2.0:nameid-format:encrypted"  # core 8.3.9: policy only

# The short names the configuration accepts (``name_id_formats = ["transient"]``).
SHORT_NAMES = {
    "transient": TRANSIENT,
    "persistent": PERSISTENT,
    "email": EMAIL,
    "unspecified": UNSPECIFIED,
}
FORMATS = tuple(SHORT_NAMES.values())


def format_from_name(name: str) -> str | None:
    """A short name or a full URN as the configuration gives it; None if unknown."""
    if name in FORMATS:
        return name
    return SHORT_NAMES.get(name.strip().lower())


def choose_format(requested: str | None, allowed: Sequence[str]) -> str:
    """The NameID format of the response: the requested one if this SP may have it, the
    SP's first allowed format when none (or ``unspecified``) is asked.

    Anything else, ``encrypted`` included (we decide encryption per SP), is refused
    with InvalidNameIDPolicy (core 3.4.1.1), never answered with another format.
    """
    if not allowed:
        raise InvalidNameIdPolicy("no NameID format is allowed for this service provider")
    if requested is None or requested == UNSPECIFIED:
        return allowed[0]
    if requested in allowed:
        return requested
    raise InvalidNameIdPolicy(f"NameID format {requested[:100]!r} is not allowed")
