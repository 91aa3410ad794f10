"""Building the URLs and parameters the protocol sends users back with."""

from __future__ import annotations

from urllib.parse import quote


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
