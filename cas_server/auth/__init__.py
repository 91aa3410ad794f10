"""User sources. Each answers with one of three outcomes (Apereo CAS's model):
success, a specific failure, or "source unavailable"."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from ..accounts.model import Account


class Failure(StrEnum):
    INVALID_CREDENTIALS = "invalid_credentials"
    LOCKED = "locked"
    DISABLED = "disabled"
    NOT_ACTIVATED = "not_activated"
    EXPIRED = "expired"  # a temporary password past its expiry


@dataclass(frozen=True)
class Success:
    account: Account
    must_change_password: bool = False


@dataclass(frozen=True)
class Rejected:
    reason: Failure
    # Set only once the password was proven right: states are never told
    # to someone who does not hold the password (no enumeration).
    account: Account | None = None


@dataclass(frozen=True)
class Unavailable:
    source: str
    detail: str = ""


AuthResult = Success | Rejected | Unavailable


class UserSource(Protocol):
    name: str

    def authenticate(self, login: str, password: str) -> AuthResult: ...
