"""The help desk's "check an account" (#15): gather what decides a sign-in, explain it.

Read-only: no session, no ticket, nothing counted. The facts come from the
server's own rules (the registry's match and the service's access rule as
the protocol applies them, its release policy, the charter, the
second-factor rules, the password's state, the throttle);
:mod:`cas_server.accounts.access_check` says what they mean. Audited as
``admin_check`` (who looked at whose access to what).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..accounts.access_check import AccessFacts, Verdict, explain
from ..accounts.charter import charter_for, needs_acceptance
from ..accounts.i18n import N_
from ..accounts.model import Account, Status
from ..protocol.cas.errors import ServiceNotAuthorized
from ..protocol.cas.services import AFFILIATION_ATTRIBUTE, RegisteredService
from ..protocol.cas.tickets import Principal
from ..runtime.container import container
from .acting import Acting
from .actions import Actions

ACTION = "check"
MAX_SERVICE = 4096


@dataclass(frozen=True)
class Released:
    """One attribute as the service receives it."""

    source: str  # the account's attribute
    name: str  # the name released to the service
    values: tuple[str, ...]


@dataclass(frozen=True)
class CheckResult:
    account: Account
    service: RegisteredService | None
    verdict: Verdict
    released: tuple[Released, ...]


def find_service(text: str) -> tuple[RegisteredService | None, str]:
    """A registry entry from a URL (matched as /login matches it), an id or a name.

    Returns the service (perhaps disabled) and "ok" or why it was not found.
    """
    c = container()
    text = text.strip()[:MAX_SERVICE]
    if "://" in text:
        try:
            return c.login.authorize_service(text), "ok"
        except ServiceNotAuthorized as exc:
            return (c.services.match(text) if exc.reason == "disabled" else None), exc.reason
    found = c.services.get(text) or next(
        (s for s in c.services if s.name.casefold() == text.casefold()), None
    )
    if found is None:
        return None, "unknown"
    return found, "ok" if found.enabled else "disabled"


def _password_reason(account: Account, max_age_days: int, now: datetime) -> str | None:
    """As the sign-in decides it (``web/cas/login_flow``): why the password must change."""
    if account.password_expires_at is not None:
        return "temporary"
    if account.must_change_password:
        return "initial" if account.last_login_at is None else "forced"
    changed = account.password_changed_at
    if max_age_days and changed is not None and now - changed > timedelta(days=max_age_days):
        return "expired"
    return None


def released_attributes(
    registered: RegisteredService, principal: Principal
) -> tuple[Released, ...]:
    """The service's release policy on this principal (``RegisteredService.release``)."""
    out = registered.release(principal.attributes)
    return tuple(
        Released(source, target, out[target])
        for source, target in registered.release_attributes
        if target in out and principal.attributes.get(source)
    )


@dataclass
class AccessCheck(Acting):
    def check_account(
        self, account: Account, service_text: str, language: str | None = None
    ) -> CheckResult:
        """The verdict on a sign-in of ``account`` to the service named by ``service_text``;
        the charter's title in ``language`` (default: the institution's)."""
        self.check(ACTION, None)
        c = container()
        registered, found = find_service(service_text)
        principal = Principal(account.login, account.principal_attributes())
        now = datetime.now(UTC)
        locked_until = Actions(self.actor).sign_in_suspended_until(account)
        charter = charter_for(c.charters, account.profile.value)
        accepted = (
            c.accounts.accepted_charter_version(account.uuid, charter.id) if charter else None
        )
        mfa = c.mfa
        by_service = registered is not None and registered.mfa_required
        mfa_required = by_service or mfa.rules.required_for(account)
        expires = account.password_expires_at
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        max_age = int(c.settings.raw.get("passwords", {}).get("max_age_days", 0) or 0)
        facts = AccessFacts(
            status=account.status.value,
            service=found,
            locked_until=locked_until,
            access_allowed=registered is None or registered.access.allows(principal),
            rule_affiliations=registered.access.affiliations if registered else frozenset(),
            rule_logins=registered.access.logins if registered else frozenset(),
            held_affiliations=tuple(principal.attributes.get(AFFILIATION_ATTRIBUTE, ())),
            charter_pending=(
                charter.title(language or c.settings.default_language)
                if charter is not None and needs_acceptance(charter, accepted)
                else None
            ),
            mfa_required=mfa_required,
            mfa_by_service=by_service,
            mfa_methods=tuple(mfa.methods_of(account)) if mfa_required else (),
            mfa_grace=mfa.grace_left(account) if mfa_required and mfa.rules.enabled else 0,
            mfa_enabled=mfa.rules.enabled,
            password_reason=_password_reason(account, max_age, now),
            temporary_expired_at=expires if expires is not None and expires <= now else None,
        )
        verdict = explain(facts)
        released = released_attributes(registered, principal) if registered else ()
        self.audit(
            ACTION,
            "success",
            account,
            service=registered.id if registered else service_text.strip()[:200],
            allowed=verdict.allowed and account.status is Status.ACTIVE,
            reasons=[r.code for r in verdict.reasons],
        )
        return CheckResult(account, registered, verdict, released)


NOT_FOUND = N_("No account has the login or alias %(login)s.")
