"""Building the URLs and parameters the protocol sends users back with."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

# What a CSP source expression may hold as a host (and port): no space, quote,
# comma or semicolon can reach the header.
_ORIGIN_HOST_RE = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


# C0 controls, DEL and C1 controls. None belongs in a URL (RFC 3986 allows
# them only percent-encoded), and CR/LF would split a Location header: a URL
# parameter holding one is refused, whatever the endpoint (one precompiled
# search, cheap enough for the validation and single sign-on hot paths).
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def has_control_character(value: str) -> bool:
    """True if ``value`` holds a C0 or C1 control character or DEL."""
    return _CONTROL_RE.search(value) is not None


def origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, fit for a CSP source list, or None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or "@" in parts.netloc:
        return None
    if not _ORIGIN_HOST_RE.fullmatch(parts.netloc):
        return None
    return f"{scheme}://{parts.netloc.lower()}"


def with_parameter(url: str, name: str, value: str) -> str:
    """Append ``name=value`` to a URL's query, before any fragment (2.2.4)."""
    base, sep, fragment = url.partition("#")
    joiner = "&" if "?" in base else "?"
    if base.endswith(("?", "&")):
        joiner = ""
    return f"{base}{joiner}{quote(name, safe='')}={quote(value, safe='')}{sep}{fragment}"


TRUE_VALUES = frozenset({"true", "1", "yes", "on"})


def flag(value: str | None) -> bool:
    """CAS boolean parameters: present means true unless it says false (2.1.1, 2.5.1)."""
    if value is None:
        return False
    return value.strip().lower() not in {"false", "0", "no", "off"}
