"""TOTP (RFC 6238) with ``pyotp``: 6 digits, 30-second steps, SHA-1 (what every app reads).

A code is accepted once: the step it matched must be later than the last step
accepted for that factor, so a code seen over a shoulder (or replayed by a
proxy) is refused within its own window, and so is any code of an earlier step.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets

import pyotp

SECRET_BYTES = 20  # 160 bits (RFC 4226 section 4), 32 base32 characters
MIN_SECRET_BITS = 112
BASE32 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
DIGITS = 6
INTERVAL = 30
DRIFT = 1  # steps either side of now: a phone clock up to ±30 s off


def new_secret() -> str:
    """A fresh seed: 160 bits from :mod:`secrets`, base32 without padding."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def normalise_secret(typed: str) -> str | None:
    """A base32 seed as given by an import file or a hardware token's sheet
    (spaces, dashes, lowercase and padding accepted); None if it is not one, or is
    shorter than 112 bits (NIST SP 800-63B-4; pyotp refuses those too)."""
    cleaned = "".join(ch for ch in typed.upper() if ch not in " -=\t")
    if not cleaned or len(cleaned) > 128 or any(ch not in BASE32 for ch in cleaned):
        return None
    try:
        decoded = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except (binascii.Error, ValueError):
        return None
    return cleaned if len(decoded) * 8 >= MIN_SECRET_BITS else None


def normalise_code(typed: str) -> str:
    """What the person typed: "123 456" and "123-456" are "123456"."""
    return "".join(ch for ch in typed if ch.isascii() and ch.isdigit())[:16]


def provisioning_uri(secret: str, login: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).provisioning_uri(
        name=login, issuer_name=issuer
    )


def step_at(now: float) -> int:
    return int(now // INTERVAL)


def code_at(secret: str, step: int) -> str:
    """The code of one step (tests and tools; never shown to anyone)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).generate_otp(step)


def matching_steps(secret: str, code: str, now: float, drift: int = DRIFT) -> list[int]:
    """Every step within ±``drift`` of now whose code is ``code`` (each compared in
    constant time, every candidate compared)."""
    code = normalise_code(code)
    if len(code) != DIGITS:
        return []
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)
    current = step_at(now)
    found = []
    for step in range(current - drift, current + drift + 1):
        if hmac.compare_digest(totp.generate_otp(step).encode(), code.encode()):
            found.append(step)
    return found


def matching_step(
    secret: str, code: str, now: float, last_step: int, drift: int = DRIFT
) -> int | None:
    """The step ``code`` matches within ±``drift``, only if later than ``last_step``."""
    later = [step for step in matching_steps(secret, code, now, drift) if step > last_step]
    return min(later) if later else None
