"""A sign-in attempt, throttled before its password is checked.

Three budgets, each ``[login]`` limit: what was typed (normalized), the
client's address, and the account the typed text names (its uuid, or its
directory entry), whatever spelling reached it (an alias, a mail address,
a fullwidth form the directory matches). The first two are reserved before
the source is asked; the account's by the source itself, once it knows the
account and before it checks the password (:data:`~cas_server.auth.Reserve`).
Every reservation is atomic, so a burst gets no more checks than the limit.

A locked typed text or address is told ("suspended until"): it says
nothing about an account, since what was typed is locked whether or not
it names one. A locked account is not told: the attempt is answered as a
wrong password, like a login nobody has (which costs and counts the same),
so that no answer tells whether a spelling reaches an existing account, or
whether the password was right.

Locks rise (``[login] lock_steps``) and an address that fails for many
distinct logins (password spraying, ``[login] max_logins_per_ip``) is locked
for every login: :meth:`~cas_server.accounts.throttle.Throttle.spread`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..accounts.model import Account, Source, normalize_login
from ..accounts.throttle import Attempt, Throttle
from . import AuthResult, Rejected, Success, Unavailable, UserSource, account_key, entry_key


def typed_key(login: str) -> str:
    """What the typed-text budget is keyed by."""
    return normalize_login(login)[:128]


def sign_in_keys(account: Account) -> list[str]:
    """The login throttle's keys that lock ``account`` (for the console, which
    shows and lifts them): its login and alias as typed, the account itself,
    and its directory entry (a shadow's external id is its DN)."""
    keys = [typed_key(account.login)] + ([typed_key(account.alias)] if account.alias else [])
    keys.append(account_key(account.uuid))
    if account.source is Source.LDAP and account.external_id:
        keys.append(entry_key(account.external_id))
    return keys


@dataclass(frozen=True)
class SignIn:
    result: AuthResult | None  # None: refused before anything was checked
    locked_until: float | None = None  # set: answer "suspended until" (a typed text, an address)
    account_locked: bool = False  # the account's budget was spent: answered as a wrong password

    @property
    def told(self) -> Rejected | None:
        """A refusal whose reason may be told: only after a right password."""
        result = self.result
        return result if isinstance(result, Rejected) and result.account is not None else None


def throttled_authenticate(
    source: UserSource,
    login_throttle: Throttle,
    ip_throttle: Throttle,
    login: str,
    password: str,
    ip: str,
    now: float,
) -> SignIn:
    attempt = Attempt(now)
    if not (attempt.reserve(login_throttle, typed_key(login)) and attempt.reserve(ip_throttle, ip)):
        attempt.release()  # nothing was checked
        return SignIn(None, attempt.refused_until)

    def reserve(key: str) -> bool:
        return attempt.reserve(login_throttle, key, told=False)

    result = source.authenticate(login, password, reserve)
    if isinstance(result, Unavailable):
        # As before: a source that did not answer counts no failure.
        attempt.release()
        return SignIn(result)
    if isinstance(result, Success):
        attempt.succeeded(reset=[login_throttle])  # the address keeps its other failures
        return SignIn(result)
    if result.account is not None:
        attempt.release()  # the password was right; the account's state is told
        return SignIn(result)
    # A wrong password, an unknown login, a locked account (ours or the
    # directory's, which cannot tell whether the password was right).
    until = attempt.failed()
    # Spraying: one address failing for many logins is locked for all of them.
    sprayed = ip_throttle.spread(ip, typed_key(login), now)
    if sprayed is not None:
        until = max(until or sprayed, sprayed)
    return SignIn(result, until, attempt.refused_silently)
