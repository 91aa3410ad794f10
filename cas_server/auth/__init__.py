"""User sources. Each answers with one of three outcomes (Apereo CAS's model):
success, a specific failure, or "source unavailable".

The caller may throttle per account: a source that found what the login
names calls ``reserve`` with that account's key (:func:`account_key`,
:func:`entry_key`) before it checks the password, and with a stand-in key
(:func:`nobody_key`) when it found nothing, so that an unknown login costs
what a wrong password costs, reservation included. If ``reserve`` answers
False the password is not checked: the source spends what a wrong password
costs (a decoy check) and answers INVALID_CREDENTIALS.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from ..accounts.model import Account, normalize_login


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
    # to someone who does not hold the password (no enumeration). Without
    # it, callers answer as for a wrong password, whatever ``reason`` says
    # (a directory tells a lock whatever the password).
    account: Account | None = None


@dataclass(frozen=True)
class Unavailable:
    source: str
    detail: str = ""


AuthResult = Success | Rejected | Unavailable

Reserve = Callable[[str], bool]
"""Take one attempt on an account's key before its password is checked; False: do not check."""


def no_reserve(key: str) -> bool:
    """For callers that do not throttle per account."""
    return True


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def account_key(uuid: str) -> str:
    """A local account (and a directory person's shadow), by its uuid."""
    return f"account:{uuid}"


def entry_key(dn: str) -> str:
    """A directory entry, by its DN (hashed: bounded, and no name in the key)."""
    return f"entry:{_digest(dn.strip().casefold())}"


def nobody_key(source: str, login: str) -> str:
    """Stands in for the account when ``source`` found none for ``login``."""
    return f"nobody:{source}:{_digest(normalize_login(login))}"


class UserSource(Protocol):
    name: str

    def authenticate(
        self, login: str, password: str, reserve: Reserve = no_reserve
    ) -> AuthResult: ...
