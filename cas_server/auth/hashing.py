"""Password hashing with bcrypt.

bcrypt reads at most 72 bytes and bcrypt 5 refuses longer input, while a
64-character passphrase with accents can exceed that. New hashes are
therefore bcrypt over the base64 SHA-256 of the password (the scheme
passlib calls bcrypt_sha256), tagged so they can be told apart from plain
bcrypt hashes imported from elsewhere, which still verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata

import bcrypt

PREFIX = "$bcrypt-sha256$"
MAX_PASSWORD_CHARS = 4096  # beyond this, refuse rather than hash megabytes


def _prehash(password: str) -> bytes:
    data = unicodedata.normalize("NFC", password).encode("utf-8")
    return base64.b64encode(hashlib.sha256(data).digest())


def hash_password(password: str, cost: int) -> str:
    digest = bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds=cost))
    return PREFIX + digest.decode("ascii")


def verify_password(password: str, stored: str) -> bool:
    if len(password) > MAX_PASSWORD_CHARS:
        return False
    try:
        if stored.startswith(PREFIX):
            return bcrypt.checkpw(_prehash(password), stored[len(PREFIX) :].encode("ascii"))
        if stored.startswith("$2"):
            raw = unicodedata.normalize("NFC", password).encode("utf-8")
            if len(raw) > 72:
                return False
            return bcrypt.checkpw(raw, stored.encode("ascii"))
    except ValueError:
        return False
    return False


def dummy_hash(cost: int) -> str:
    """A hash to check against when the login is unknown, so that costs the same time."""
    return hash_password(
        "not a password: " + base64.b64encode(hashlib.sha256(b"x").digest()).decode(), cost
    )


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
