"""Actions on an account, each checked, done and written to the audit trail.

The console and the command line call the same methods: the actor is the
signed-in administrator (with their address) or ``cli``. A refusal is
audited too (outcome ``refused``) and raised as :class:`~cas_server.admin.acting.Refused`, whose
message is a msgid the caller translates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..accounts.console import (
    CONSOLE_ROLES,
    AliasError,
    Role,
    parse_alias,
)
from ..accounts.i18n import N_
from ..accounts.model import Account, Source, Status
from ..accounts.passwords import PasswordChange, PasswordRejected
from ..accounts.policy import MaxLength, MinLength
from ..accounts.recovery import temporary_password
from ..runtime.container import container
from ..storage.sql.console import ConsoleError
from . import admin, factors
from .acting import Acting, Refused
from .messages import notify_action
from .sessions import end_account_sessions


@dataclass
class Actions(Acting):
    def tell_owner(self, account: Account, what: str) -> None:
        """Every console action on someone's access is told to them (see messages)."""
        notify_action(self, account, what)

    def _is_me(self, account: Account) -> bool:
        return account.login == self.actor.name

    # Alias ------------------------------------------------------------------------
    def set_alias(self, account: Account, value: str) -> str | None:
        """Set the alias (``value``), or clear it (empty ``value``)."""
        self.check("alias", account)
        if not value.strip():
            admin().store.set_alias(account.uuid, None)
            self.audit("alias", "cleared", account, previous=account.alias)
            self.tell_owner(account, "alias")
            return None
        try:
            alias = parse_alias(value)
        except AliasError as exc:
            self.refuse("alias", account, exc.message, **exc.params)
        if alias == account.login:
            self.refuse("alias", account, N_("The alias must differ from the login."))
        try:
            admin().store.set_alias(account.uuid, alias)
        except ConsoleError as exc:
            self.refuse("alias", account, exc.message, **exc.params)
        self.audit("alias", "success", account, alias=alias, previous=account.alias)
        self.tell_owner(account, "alias")
        return alias

    # Lock / unlock ----------------------------------------------------------------
    def lock(self, account: Account, reason: str = "") -> int:
        """Lock the account and end its SSO sessions; returns how many ended."""
        self.check("lock", account)
        if self._is_me(account):
            self.refuse("lock", account, N_("You cannot lock your own account."))
        if account.status is Status.LOCKED:
            self.refuse("lock", account, N_("This account is already locked."))
        admin().store.set_status(account.uuid, Status.LOCKED)
        ended = self._end_sessions(account)
        self.audit(
            "lock",
            "success",
            account,
            reason=reason[:500],
            previous=account.status.value,
            sessions_ended=ended,
        )
        self.tell_owner(account, "lock")
        return ended

    def sign_in_suspended_until(self, account: Account) -> float | None:
        """The temporary lock after repeated failures, if any: on the login or the
        alias as typed, or on the account itself (whatever spelling reached it)."""
        from ..auth.throttled import sign_in_keys

        c = container()
        now = c.clock.now()
        keys = sign_in_keys(account)
        times = [t for k in keys if (t := c.login_throttle.retry_at(k, now)) is not None]
        return max(times) if times else None

    def sign_in_lock_level(self, account: Account) -> int:
        """How many locks in a row the account has had (rising lockouts, ``[login]
        lock_steps``): the highest level of its keys; 0 when none is remembered."""
        from ..auth.throttled import sign_in_keys

        c = container()
        now = c.clock.now()
        return max((c.login_throttle.level(k, now) for k in sign_in_keys(account)), default=0)

    def unlock(self, account: Account) -> Status:
        """Lift an administrator's lock and the lock after repeated failures."""
        self.check("unlock", account)
        suspended = self.sign_in_suspended_until(account) is not None
        level = self.sign_in_lock_level(account)  # lifting the lock starts the steps over
        if account.status is not Status.LOCKED and not suspended and not level:
            self.refuse("unlock", account, N_("This account is not locked."))
        status = account.status
        if status is Status.LOCKED:
            # A directory account's password lives in the directory: it was in
            # use if the person ever signed in here.
            in_use = account.password_hash is not None or (
                account.source is Source.LDAP and account.last_login_at is not None
            )
            status = Status.ACTIVE if in_use else Status.NOT_ACTIVATED
            admin().store.set_status(account.uuid, status)
        from ..auth.throttled import sign_in_keys

        c = container()
        for key in sign_in_keys(account):  # as typed, and the account's own
            c.login_throttle.success(key)
        self.audit(
            "unlock",
            "success",
            account,
            status=status.value,
            throttle_cleared=suspended,
            lock_level=level,
        )
        self.tell_owner(account, "unlock")
        return status

    # Passwords --------------------------------------------------------------------
    def force_change(
        self, account: Account, password: str | None = None, generate: bool = False
    ) -> str | None:
        """Ask for a new password at the next sign-in; optionally set a temporary one.

        Returns the generated temporary password (shown once to the administrator).
        """
        self.check("force_change", account)
        if password is None and not generate:
            admin().store.set_must_change(account.uuid, True)
            self.audit("force_change", "success", account, temporary=False)
            self.tell_owner(account, "force_change")
            return None
        if account.status is not Status.ACTIVE:
            self.refuse(
                "force_change",
                account,
                N_("A temporary password can only be given to an active account."),
            )
        c = container()
        if generate:
            rules = c.passwords.policy.rules
            low = max((r.n for r in rules if isinstance(r, MinLength)), default=12)
            high = min((r.n for r in rules if isinstance(r, MaxLength)), default=64)
            password = temporary_password(lambda pw: not c.passwords.check(account, pw), low, high)
        assert password is not None
        days = admin().settings.temporary_password_days
        expires = datetime.now(UTC) + timedelta(days=days)
        try:
            c.passwords.set_password(
                account,
                password,
                change=PasswordChange(
                    "admin", by_operator=True, temporary=True, sessions_ended=True
                ),
                must_change=True,
                expires_at=expires,
            )
        except PasswordRejected as exc:
            self.audit(
                "force_change",
                "refused",
                account,
                reason="policy",
                rules=[v.rule for v in exc.violations],
            )
            refused = Refused(N_("The password was not accepted:"))
            refused.violations = exc.violations
            raise refused from exc
        ended = self._end_sessions(account)
        self.audit(
            "force_change",
            "success",
            account,
            temporary=True,
            generated=generate,
            expires_at=expires.isoformat(timespec="seconds"),
            sessions_ended=ended,
        )
        # The owner's confirmation mail is the password service's (PasswordNotices).
        return password if generate else None

    # Sessions ---------------------------------------------------------------------
    def _end_sessions(self, account: Account) -> int:
        from ..accounts.tokens import Purpose
        from ..storage.sql.tokens import SqlTokenStore

        c = container()
        now = c.clock.now()
        # A sign-in waiting at the charter or the forced change dies too: it
        # would otherwise open a new session right after this one ended.
        SqlTokenStore(c.engine).cancel(account.uuid, Purpose.PENDING_LOGIN, now)
        count = len(c.tickets.sessions_for(account.login, now))
        end_account_sessions(account.login, now)
        return count

    def end_sessions(self, account: Account) -> int:
        self.check("end_sessions", account)
        ended = self._end_sessions(account)
        self.audit("end_sessions", "success", account, sessions_ended=ended)
        self.tell_owner(account, "end_sessions")
        return ended

    # Linked accounts ----------------------------------------------------------------
    def link(self, account: Account, other_login: str) -> Account:
        """``other`` joins ``account`` (which stays the primary one)."""
        self.check("link", account)
        other = container().accounts.find_by_login(other_login) if other_login.strip() else None
        if other is None:
            self.refuse(
                "link",
                account,
                N_("No account has the login or alias %(login)s."),
                login=other_login.strip()[:128],
            )
        self.check("link", other)  # both ends of a link are targets
        try:
            admin().store.link(account.uuid, other.uuid, self.actor.name)
        except ConsoleError as exc:
            self.refuse("link", account, exc.message, **exc.params)
        self.audit("link", "success", account, linked=other.login, role="primary")
        self.audit("link", "success", other, primary=account.login, role="linked")
        self.tell_owner(account, "link")
        self.tell_owner(other, "link")
        return other

    def unlink(self, account: Account, other: Account) -> None:
        self.check("unlink", account)
        self.check("unlink", other)
        if not admin().store.unlink(account.uuid, other.uuid):
            self.refuse("unlink", account, N_("These two accounts are not linked."))
        self.audit("unlink", "success", account, other=other.login)
        self.audit("unlink", "success", other, other=account.login)
        self.tell_owner(account, "unlink")
        self.tell_owner(other, "unlink")

    # Roles ------------------------------------------------------------------------
    def set_roles(self, account: Account, add: set[str], remove: set[str]) -> frozenset[str]:
        self.check("roles", account)
        unknown = sorted((add | remove) - set(CONSOLE_ROLES))
        if unknown:
            self.refuse(
                "roles",
                account,
                N_("Unknown role %(role)s (known: admin, helpdesk, impersonate)."),
                role=unknown[0],
            )
        if self._is_me(account) and Role.ADMIN.value in remove:
            self.refuse("roles", account, N_("You cannot remove your own admin role."))
        roles = (account.roles | add) - remove
        if roles != account.roles:
            container().accounts.set_roles(account.uuid, roles)
        self.audit(
            "roles",
            "success",
            account,
            added=sorted(add - account.roles),
            removed=sorted(remove & account.roles),
            roles=sorted(roles),
        )
        if roles != account.roles:
            self.tell_owner(account, "roles")
        return frozenset(roles)

    # Second factor (issue #14) ------------------------------------------------------
    def remove_factor(self, account: Account, factor_id: str) -> factors.FactorLine:
        """The help desk's "lost phone": one factor (an id of ``account``'s only)."""
        return factors.remove_factor(self, account, factor_id)

    def remove_all_factors(self, account: Account) -> int:
        """Every factor, recovery code and trusted device; the person enrols again."""
        return factors.remove_all_factors(self, account)
