"""One-time secrets of the self-service pages: mailed links, SMS and e-mail codes,
and the short "grants" that carry a user from one step to the next (T4, T5, T9).

Everything comes from :mod:`secrets`. Only hashes are stored: a link's
secret (256 bits) is stored as its SHA-256; a short code cannot be
stored that way (a million codes are hashed in a second), so a code is
bound to a *handle*, a 256-bit secret kept in the user's session: the row
is found by the handle's SHA-256 and the code is compared with a hash
keyed by the handle, which a copy of the database alone cannot reverse.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

LINK_BYTES = 32  # 256 bits from secrets.token_urlsafe: 43 characters in a URL
CODE_DIGITS = 6
DEFAULT_LINK_TTL = 3600.0  # mailed links: 1 hour (T5 allows up to 24 h)
DEFAULT_CODE_TTL = 600.0  # SMS and e-mail codes: 10 minutes (T5)
DEFAULT_GRANT_TTL = 900.0  # time to finish a step once proven
DEFAULT_CODE_ATTEMPTS = 5  # wrong codes before the code dies (T9)
MAX_SECRET_LENGTH = 128  # anything longer is not one of ours


class Purpose(StrEnum):
    RESET_LINK = "reset_link"  # forgotten password, mailed link
    FACTS_LINK = "facts_link"  # forgotten password, Metamots: link + facts asked again
    TEMPORARY_LINK = "temporary_link"  # forgotten password, confirm before a temporary one
    SMS_CODE = "sms_code"  # forgotten password, code by SMS
    RESET_GRANT = "reset_grant"  # joker answered or SMS code right: may choose a password
    ACTIVATION_CODE = "activation_code"  # code proving the channel on file at activation
    ACTIVATION_GRANT = "activation_grant"  # identified (and proven): may fill the form
    JOKER_CHALLENGE = "joker_challenge"  # number + birth date matched: the joker is asked
    CHANNEL_CODE = "channel_code"  # profile: code proving a new personal e-mail or mobile
    # A sign-in between the right password and the service (charter, forced
    # change): its handle is in the browser's session, the rest here.
    PENDING_LOGIN = "pending_login"
    # Second factor: a code mailed or texted to a verified channel (accounts.mfa).
    MFA_CODE = "mfa_code"


#: Purposes a successful reset or activation cancels (T6).
ALL_PURPOSES = tuple(Purpose)


def new_secret() -> str:
    """A secret for a link, a grant or a code handle: 256 bits, URL-safe."""
    return secrets.token_urlsafe(LINK_BYTES)


def new_code(digits: int = CODE_DIGITS) -> str:
    """A numeric code (SMS, e-mail), uniformly drawn, leading zeros kept."""
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def digest(secret: str) -> str:
    """What the database keeps of a secret: its SHA-256, hexadecimal."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def code_digest(handle: str, code: str) -> str:
    """A code's hash, keyed by its handle (the handle never reaches the database)."""
    return hmac.new(handle.encode("utf-8"), code.encode("utf-8"), hashlib.sha256).hexdigest()


def code_matches(handle: str, code: str, stored: str) -> bool:
    return hmac.compare_digest(code_digest(handle, code), stored)


def looks_like_secret(value: str) -> bool:
    """Cheap shape check before any database work on a secret from a URL or a cookie."""
    return 16 <= len(value) <= MAX_SECRET_LENGTH and all(
        ch.isascii() and (ch.isalnum() or ch in "-_") for ch in value
    )


def normalize_activation_code(value: str) -> str:
    """An activation code as stored: "abcd-efgh jkl" is "ABCDEFGHJKL"."""
    return "".join(ch for ch in value.upper() if ch.isascii() and ch.isalnum())[:64]


def normalize_code(value: str) -> str:
    """What the user typed: "123 456" and "123-456" are "123456"."""
    return "".join(ch for ch in value if ch.isdigit())[:16]


@dataclass(frozen=True)
class TokenRecord:
    """A live token as the store returns it."""

    account_uuid: str
    purpose: Purpose
    expires_at: float
    attempts: int = 0
    destination: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TokenSettings:
    link_ttl: float = DEFAULT_LINK_TTL
    code_ttl: float = DEFAULT_CODE_TTL
    grant_ttl: float = DEFAULT_GRANT_TTL
    code_attempts: int = DEFAULT_CODE_ATTEMPTS

    def ttl(self, purpose: Purpose) -> float:
        if purpose in (
            Purpose.SMS_CODE,
            Purpose.ACTIVATION_CODE,
            Purpose.CHANNEL_CODE,
            Purpose.MFA_CODE,
        ):
            return self.code_ttl
        if purpose in (Purpose.RESET_GRANT, Purpose.ACTIVATION_GRANT, Purpose.JOKER_CHALLENGE):
            return self.grant_ttl
        return self.link_ttl


class TokenStore(Protocol):
    def issue(
        self,
        account_uuid: str,
        purpose: Purpose,
        secret: str,
        *,
        now: float,
        ttl: float,
        destination: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None: ...

    def peek(self, secret: str, purpose: Purpose, now: float) -> TokenRecord | None:
        """The live token, without using it."""
        ...

    def try_code(
        self, handle: str, code: str, purpose: Purpose, now: float, max_attempts: int
    ) -> TokenRecord | None:
        """Count one try at a code; the token if the code was right (and now used)."""
        ...

    def invalidate_all(self, account_uuid: str, now: float) -> int: ...
