"""A password write lifts the sign-in locks of its account (rising lockouts, #16).

Whichever path wrote the password (a reset, the profile, a forced change,
the help desk, the command line), the person proved they hold the account
or an operator vouched for it: the login throttle's keys of the account
(its login and alias as typed, the account itself, its directory entry) are
cleared, lock and level, as a successful sign-in clears them. The owner's
confirmation (:class:`~cas_server.runtime.password_notices.PasswordNotices`)
follows as before.
"""

from __future__ import annotations

import logging

from ..accounts.model import Account
from ..accounts.passwords import PasswordChange, PasswordEvents
from ..accounts.throttle import Throttle
from ..auth.throttled import sign_in_keys

log = logging.getLogger(__name__)


class LiftLocksOnPasswordWrite:
    """Given the login throttle itself (not read from the app): a password may be
    written outside any request or app context (a script, a test, the CLI)."""

    def __init__(self, throttle: Throttle, then: PasswordEvents) -> None:
        self.throttle = throttle
        self.then = then

    def password_written(self, account: Account, change: PasswordChange) -> None:
        try:
            for key in sign_in_keys(account):
                self.throttle.success(key)
        except Exception:  # the password is written: a store failure must not undo it
            log.exception("could not lift the sign-in locks of account %s", account.uuid)
        self.then.password_written(account, change)
