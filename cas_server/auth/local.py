"""The local database as a user source (bcrypt hashes)."""

from __future__ import annotations

from datetime import UTC, datetime

from ..accounts.model import MAX_LOGIN_LENGTH, Source, Status
from ..accounts.ports import AccountRepository
from . import (
    AuthResult,
    Failure,
    Rejected,
    Reserve,
    Success,
    account_key,
    no_reserve,
    nobody_key,
)
from .hashing import MAX_PASSWORD_CHARS, dummy_hash, verify_password


class LocalUserSource:
    name = "local"

    def __init__(self, accounts: AccountRepository, bcrypt_cost: int) -> None:
        self.accounts = accounts
        # Computed once per process, not per request.
        self._dummy = dummy_hash(bcrypt_cost)

    def authenticate(self, login: str, password: str, reserve: Reserve = no_reserve) -> AuthResult:
        """Check a password; an unknown login costs one bcrypt check like a wrong
        password, and one reservation (``reserve``) like a known one."""
        if not login or len(login) > MAX_LOGIN_LENGTH or len(password) > MAX_PASSWORD_CHARS:
            reserve(nobody_key(self.name, login[:MAX_LOGIN_LENGTH]))
            verify_password(password[:MAX_PASSWORD_CHARS], self._dummy)
            return Rejected(Failure.INVALID_CREDENTIALS)
        account = self.accounts.find_by_login(login)
        may_check = reserve(
            account_key(account.uuid) if account is not None else nobody_key(self.name, login)
        )
        stored = account.password_hash if account is not None else None
        # A directory account's shadow is not ours to check: its password lives
        # in the directory (a hash kept here could be stale).
        if account is not None and account.source is Source.LDAP:
            stored = None
        if account is None or not stored or not may_check:
            verify_password(password, self._dummy)
            return Rejected(Failure.INVALID_CREDENTIALS)
        if not verify_password(password, stored):
            return Rejected(Failure.INVALID_CREDENTIALS)
        if account.status is Status.LOCKED:
            return Rejected(Failure.LOCKED, account)
        if account.status is Status.DISABLED:
            return Rejected(Failure.DISABLED, account)
        if account.status is Status.NOT_ACTIVATED:
            return Rejected(Failure.NOT_ACTIVATED, account)
        expires = account.password_expires_at
        if expires is not None and expires <= datetime.now(UTC):
            return Rejected(Failure.EXPIRED, account)
        return Success(account, must_change_password=account.must_change_password)
