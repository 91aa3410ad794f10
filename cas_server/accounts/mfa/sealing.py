"""Secrets at rest (TOTP seeds) sealed with Fernet keys from ``[mfa] encryption_keys``.

Fernet is AES-128-CBC with HMAC-SHA256 (authenticated): a sealed value that was
altered, or sealed under a key no longer listed, does not open. Several keys
(``MultiFernet``): the first seals, any opens. Rotation: put a new key first,
run ``cas-server mfa reseal`` (every secret sealed again under the first key),
then remove the old one.

Keys for other purposes (the recovery codes' HMAC) are derived from a Fernet
key with HKDF and a label, so one configured secret never serves two uses.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

RECOVERY_CODES_PURPOSE = "cas-server mfa recovery codes v1"


class SealingError(Exception):
    """A sealed value that none of the keys opens (altered, or its key is gone)."""


def check_key(key: str) -> bool:
    """Whether ``key`` is a Fernet key: 32 bytes, URL-safe base64."""
    try:
        raw = base64.b64decode(key.encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False
    return len(raw) == 32


def derive_key(key: str, purpose: str) -> bytes:
    """A 32-byte key for ``purpose``, derived from a Fernet key (HKDF-SHA256)."""
    if not check_key(key):
        raise ValueError("not a Fernet key")
    material = base64.urlsafe_b64decode(key.encode("ascii"))
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode("utf-8"))
    return hkdf.derive(material)


class Sealer:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        for index, key in enumerate(keys, 1):
            if not check_key(key):
                raise ValueError(f"encryption key number {index} is not a Fernet key")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def seal(self, plain: bytes) -> bytes:
        return self._fernet.encrypt(plain)

    def open(self, sealed: bytes) -> bytes:
        try:
            return self._fernet.decrypt(sealed)
        except (InvalidToken, TypeError, ValueError) as exc:
            raise SealingError("no configured key opens this secret") from exc

    def reseal(self, sealed: bytes) -> bytes:
        """The same secret sealed under the first key."""
        try:
            return self._fernet.rotate(sealed)
        except (InvalidToken, TypeError, ValueError) as exc:
            raise SealingError("no configured key opens this secret") from exc
