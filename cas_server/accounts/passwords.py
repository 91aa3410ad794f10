"""Every password write goes through here: change, reset, activation, admin set (T18).

The policy (history included) is checked in one place, so no path can skip
it, and the new hash joins the history in the same transaction as the change.
Accounts of a directory source (LDAP) have their password written to the
directory first (:class:`~.directory.DirectoryPasswords`, chosen by the
account's source); their history is still kept and checked here.

The consequences of a write are here too, so that none can be forgotten
by a path (issue #11, item 9): the store ends every outstanding one-time
link and code of the account in the same transaction (T6), and once that
transaction has committed, :class:`PasswordEvents` is told (the
confirmation mail, T11).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from .directory import DirectoryPasswords
from .model import Account
from .policy import NotInHistory, PasswordContext, PasswordPolicy, Violation


class PasswordStore(Protocol):
    def password_history(self, uuid: str, limit: int) -> list[str]:
        """Former password hashes of the account, newest first."""
        ...

    def store_password(
        self,
        uuid: str,
        password_hash: str,
        *,
        must_change: bool,
        expires_at: datetime | None,
    ) -> None:
        """Set the password and add its hash to the history, and end every
        outstanding one-time token of the account, atomically."""
        ...

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` once what was written is committed (at once if it is)."""
        ...


@dataclass(frozen=True)
class PasswordChange:
    """What the owner is told of a password write."""

    reason: str  # reset, profile, login, temporary, admin, cli, activation
    by_operator: bool = False  # set by the help desk or the command line
    temporary: bool = False  # a temporary password, to change at the next sign-in
    sessions_ended: bool = False  # the caller ends every SSO session of the account


class PasswordEvents(Protocol):
    def password_written(self, account: Account, change: PasswordChange) -> None: ...


class _Silent:
    def password_written(self, account: Account, change: PasswordChange) -> None:
        return None


class PasswordRejected(ValueError):
    def __init__(self, violations: list[Violation]) -> None:
        super().__init__(", ".join(v.rule for v in violations))
        self.violations = violations


class PasswordService:
    def __init__(
        self,
        policy: PasswordPolicy,
        store: PasswordStore,
        hasher: Callable[[str], str],
        verify: Callable[[str, str], bool],
        directories: Mapping[str, DirectoryPasswords] | None = None,
        events: PasswordEvents | None = None,
    ) -> None:
        self.policy = policy
        self.store = store
        self.hasher = hasher
        self.verify = verify
        self.events: PasswordEvents = events or _Silent()
        # Account source ("ldap") -> where its passwords are written.
        self.directories: Mapping[str, DirectoryPasswords] = dict(directories or {})
        self.history_depth = max(
            (r.n for r in policy.rules if isinstance(r, NotInHistory)), default=0
        )

    def using(self, store: PasswordStore) -> PasswordService:
        """The same service writing through another store (a unit of work)."""
        return PasswordService(
            self.policy, store, self.hasher, self.verify, self.directories, self.events
        )

    def context(self, account: Account) -> PasswordContext:
        history = (
            self.store.password_history(account.uuid, self.history_depth)
            if self.history_depth
            else []
        )
        return PasswordContext(
            login=account.login,
            full_name=account.full_name,
            history=history,
            verify=self.verify,
        )

    def check(self, account: Account, password: str) -> list[Violation]:
        return self.policy.check(password, self.context(account))

    def set_password(
        self,
        account: Account,
        password: str,
        *,
        change: PasswordChange,
        must_change: bool = False,
        expires_at: datetime | None = None,
    ) -> None:
        """Check the policy, then store; raises :class:`PasswordRejected` with every rule broken.

        ``change`` says why, for the owner's confirmation, sent once the
        write has committed.
        """
        violations = self.check(account, password)
        if violations:
            raise PasswordRejected(violations)
        password_hash = self.hasher(password)
        directory = self.directories.get(account.source.value)
        if directory is not None:
            # The directory may still refuse it (its own policy): then nothing is written.
            directory.write_password(account, password, must_change=must_change)
        self.store.store_password(
            account.uuid, password_hash, must_change=must_change, expires_at=expires_at
        )
        self.store.after_commit(lambda: self.events.password_written(account, change))
