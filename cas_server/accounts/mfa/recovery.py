"""Recovery codes: ten single-use codes shown once, kept only as keyed hashes.

A code is 12 characters from an alphabet without look-alikes (no 0/o, 1/l/i),
shown in groups of four (``k7m2-q9xd-4hpt``): about 59 bits, beyond guessing
behind the sign-in throttle. The store keeps HMAC-SHA256 under a key that is
not in the database, so a copy of the database alone cannot test codes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
LENGTH = 12
GROUP = 4
COUNT = 10


def new_recovery_codes(count: int = COUNT) -> list[str]:
    """``count`` distinct codes, from :mod:`secrets`."""
    codes: list[str] = []
    while len(codes) < count:
        raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        code = "-".join(raw[i : i + GROUP] for i in range(0, LENGTH, GROUP))
        if code not in codes:
            codes.append(code)
    return codes


def normalise_recovery_code(typed: str) -> str:
    """What the person typed, as the hash is taken: "K7M2 q9xd-4HPT" is "k7m2q9xd4hpt"."""
    return "".join(ch for ch in typed.casefold() if ch.isascii() and ch.isalnum())[:64]


def looks_like_recovery_code(typed: str) -> bool:
    code = normalise_recovery_code(typed)
    return len(code) == LENGTH and all(ch in ALPHABET for ch in code)


def recovery_code_hash(key: bytes, code: str) -> str:
    """What the store keeps of a code (normalised first): HMAC-SHA256, hexadecimal."""
    return hmac.new(key, normalise_recovery_code(code).encode("ascii"), hashlib.sha256).hexdigest()
