"""A person's second factor as the help desk sees and handles it (issue #14).

* What a record shows: each factor's kind, name, when it was added and last
  used, the recovery codes left and the trusted devices; **never** a sealed
  seed, a credential id or a public key (:class:`FactorLine` has no room for them).
* The "lost phone" call: remove one factor, or every factor (the recovery
  codes and trusted devices go with them, and the grace restarts so that
  the person can enrol again), after the help desk checked who is calling.
  Both are the action ``mfa_remove``, checked (role, then the target rule:
  only accounts ranked strictly below the operator), audited with the
  operator, and told to the owner by mail.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..accounts.i18n import N_
from ..accounts.mfa.model import Factor, MfaRefused
from ..accounts.model import Account
from ..runtime.container import container
from .acting import Acting, Refused
from .messages import notify_action

ACTION = "mfa_remove"
MAX_FACTOR_ID = 64


@dataclass(frozen=True)
class FactorLine:
    """One factor, as shown: nothing in it opens anything."""

    id: str
    kind: str
    label: str
    created_at: float
    last_used_at: float | None


@dataclass(frozen=True)
class SecondFactorState:
    enabled: bool  # [mfa] enabled
    required: bool  # this account must use one ([mfa] required_*)
    factors: tuple[FactorLine, ...]
    recovery_codes_left: int
    trusted_devices: int
    grace_left: int  # sign-ins still let through without one, if required

    @property
    def anything(self) -> bool:
        return bool(self.factors or self.recovery_codes_left or self.trusted_devices)


def line(factor: Factor) -> FactorLine:
    return FactorLine(
        id=factor.id,
        kind=factor.kind.value,
        label=factor.label,
        created_at=factor.created_at,
        last_used_at=factor.last_used_at,
    )


def state_of(account: Account) -> SecondFactorState:
    mfa = container().mfa
    return SecondFactorState(
        enabled=mfa.rules.enabled,
        required=mfa.rules.required_for(account),
        factors=tuple(line(f) for f in mfa.factors(account)),
        recovery_codes_left=mfa.recovery_codes_left(account),
        trusted_devices=len(mfa.store.trusted_devices(account.uuid, mfa.clock.now())),
        grace_left=mfa.grace_left(account),
    )


def factor_line(account: Account, factor_id: str) -> FactorLine | None:
    """One of ``account``'s factors (only theirs: an id of someone else's is None)."""
    if not 0 < len(factor_id) <= MAX_FACTOR_ID:
        return None
    factor = container().mfa.store.factor(account.uuid, factor_id)
    return line(factor) if factor is not None else None


def remove_factor(actions: Acting, account: Account, factor_id: str) -> FactorLine:
    """Remove one of ``account``'s factors; refused (and audited) for any other id."""
    actions.check(ACTION, account)
    wanted = factor_id.strip()[:MAX_FACTOR_ID]
    try:
        removed = container().mfa.remove(account, wanted, by_operator=True)
    except MfaRefused as exc:
        # An id of another person's factor lands here too: the target is the
        # account of the record, never the owner of whatever id was posted.
        actions.audit(ACTION, "refused", account, scope="one", factor_id=wanted, reason=exc.message)
        raise Refused(exc.message, **exc.params) from exc
    actions.audit(
        ACTION,
        "success",
        account,
        scope="one",
        factor_id=removed.id,
        kind=removed.kind.value,
        label=removed.label,
        operator=actions.actor.name,
    )
    notify_action(actions, account, "mfa_remove", removed.label)
    return line(removed)


def remove_all_factors(actions: Acting, account: Account) -> int:
    """Every factor, recovery code and trusted device of ``account``; returns how many
    factors went."""
    actions.check(ACTION, account)
    before = state_of(account)
    if not before.anything:
        actions.refuse(ACTION, account, N_("This account has no second factor to remove."))
    removed = container().mfa.remove_all(account)
    actions.audit(
        ACTION,
        "success",
        account,
        scope="all",
        removed=removed,
        kinds=sorted({f.kind for f in before.factors}),
        labels=[f.label for f in before.factors],
        recovery_codes=before.recovery_codes_left,
        trusted_devices=before.trusted_devices,
        operator=actions.actor.name,
    )
    notify_action(actions, account, "mfa_remove_all")
    return removed
