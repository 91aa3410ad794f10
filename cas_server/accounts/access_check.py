"""Why an account may or may not reach a service: the help desk's "check an account" (#15).

Pure: fed by plain values that the console gathers with the server's own
rules (the registry's match and access rule, the charter, the second-factor
rules, the password's state, the throttle); this module only says what each
of them means for a sign-in there, in the order a sign-in meets them.

A *blocking* reason stops the sign-in; a *step* is asked on the way (a
charter to accept, a second factor to give, a password to change) and the
person reaches the service once it is done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .i18n import N_

STATUS_MESSAGES = {
    "not_activated": N_("The account is not activated: the person must activate it first."),
    "locked": N_("The account is locked by the help desk or the directory: unlock it first."),
    "disabled": N_("The account is disabled."),
}
SERVICE_MESSAGES = {
    "invalid": N_("This is not a valid service address."),
    "unregistered": N_("No registered service accepts this address."),
    "disabled": N_("The service is disabled in the registry."),
    "unknown": N_("No registered service has this id or name."),
}
PASSWORD_MESSAGES = {
    "temporary": N_("A temporary password is set: the person must choose a new one at sign-in."),
    "initial": N_("The first password must be changed at sign-in."),
    "forced": N_("The help desk asked for a new password: it is asked at sign-in."),
    "expired": N_("The password is older than the policy allows: it is asked again at sign-in."),
}


@dataclass(frozen=True)
class AccessFacts:
    """What the server knows that decides a sign-in of one account to one service."""

    status: str  # accounts.model.Status value
    #: The service as found: "ok", or why not ("invalid", "unregistered", "disabled", "unknown").
    service: str = "ok"
    locked_until: float | None = None  # the lock after repeated failures, if any
    access_allowed: bool = True  # the service's access rule, applied by the protocol
    rule_affiliations: frozenset[str] = frozenset()
    rule_logins: frozenset[str] = frozenset()
    held_affiliations: tuple[str, ...] = ()
    charter_pending: str | None = None  # the charter's title, when it must be accepted
    mfa_required: bool = False  # by the service or the person's population
    mfa_by_service: bool = False
    mfa_methods: tuple[str, ...] = ()  # what the person can give
    mfa_grace: int = 0  # sign-ins left to enrol later
    mfa_enabled: bool = True
    password_reason: str | None = None  # "temporary", "initial", "forced", "expired"
    temporary_expired_at: datetime | None = None  # a temporary password that has expired


@dataclass(frozen=True)
class Reason:
    code: str
    message: str  # msgid, with ``params``
    blocking: bool = True
    params: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    reasons: tuple[Reason, ...]

    @property
    def allowed(self) -> bool:
        """The sign-in reaches the service (perhaps after the steps)."""
        return not any(r.blocking for r in self.reasons)

    @property
    def blocking(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.blocking)

    @property
    def steps(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if not r.blocking)


def explain(facts: AccessFacts) -> Verdict:
    """Every reason, in the order a sign-in meets them; empty: straight through."""
    reasons: list[Reason] = []
    if facts.service != "ok":
        reasons.append(Reason(f"service_{facts.service}", SERVICE_MESSAGES[facts.service]))
    if facts.status in STATUS_MESSAGES:
        reasons.append(Reason(f"status_{facts.status}", STATUS_MESSAGES[facts.status]))
    if facts.locked_until is not None:
        reasons.append(
            Reason(
                "throttled",
                N_("Sign-in is suspended after repeated failures until %(until)s."),
                params={"until": facts.locked_until},
            )
        )
    if facts.temporary_expired_at is not None:
        reasons.append(
            Reason(
                "temporary_expired",
                N_("The temporary password expired on %(until)s: send a new reset link."),
                params={"until": facts.temporary_expired_at},
            )
        )
    if facts.service == "ok" and not facts.access_allowed:
        reasons.append(_access_reason(facts))
    if facts.mfa_required:
        reasons.append(_mfa_reason(facts))
    if facts.charter_pending is not None:
        reasons.append(
            Reason(
                "charter",
                N_("The charter “%(charter)s” must be accepted at sign-in."),
                blocking=False,
                params={"charter": facts.charter_pending},
            )
        )
    if facts.password_reason is not None and facts.temporary_expired_at is None:
        reasons.append(
            Reason(
                f"password_{facts.password_reason}",
                PASSWORD_MESSAGES[facts.password_reason],
                blocking=False,
            )
        )
    return Verdict(tuple(reasons))


def _access_reason(facts: AccessFacts) -> Reason:
    wanted = ", ".join(sorted(facts.rule_affiliations)) or "-"
    held = ", ".join(facts.held_affiliations) or "-"
    if facts.rule_affiliations:
        return Reason(
            "access_rule",
            N_(
                "The service's access rule admits the affiliations %(wanted)s "
                "(and some logins); this account has %(held)s."
            ),
            params={"wanted": wanted, "held": held},
        )
    return Reason(
        "access_rule", N_("The service's access rule admits only some logins, not this one.")
    )


def _mfa_reason(facts: AccessFacts) -> Reason:
    if not facts.mfa_enabled:
        # The service requires one and the server offers none: no ticket at all.
        return Reason(
            "mfa_unavailable",
            N_("The service requires a second factor, and second factors are off on this server."),
        )
    why = (
        N_("The service requires a second factor.")
        if facts.mfa_by_service
        else N_("The person's population requires a second factor.")
    )
    if facts.mfa_methods:
        return Reason(
            "mfa_asked",
            N_("%(why)s It is asked at sign-in (enrolled: %(methods)s)."),
            blocking=False,
            params={"why": why, "methods": ", ".join(facts.mfa_methods)},
        )
    if facts.mfa_grace > 0:
        return Reason(
            "mfa_enrol",
            N_("%(why)s None is enrolled: the person is asked to set one up at sign-in."),
            blocking=False,
            params={"why": why},
        )
    return Reason(
        "mfa_missing",
        N_("%(why)s None is enrolled and no grace is left: the sign-in stops there."),
        params={"why": why},
    )
