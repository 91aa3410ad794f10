"""Who acts on an account and how an action is checked, refused and audited.

The base of :class:`~cas_server.admin.actions.Actions`; the actions that send
something (:mod:`cas_server.admin.messages`) take it too, so that neither of
the two modules imports the other.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, NoReturn

from ..accounts.console import SYSTEM_RANK, may, may_act_on, rank
from ..accounts.i18n import N_
from ..accounts.model import Account
from ..accounts.policy import Violation
from ..runtime.container import container


class Refused(Exception):
    """The action was not done; ``message`` % ``params`` says why (msgid)."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params
        self.violations: list[Violation] = []  # the password policy's verdict, if that is why


@dataclass(frozen=True)
class Actor:
    name: str  # the administrator's login, or "cli"
    ip: str | None = None
    roles: frozenset[str] = frozenset()
    #: The command line (``cas-server users …``): above every console role.
    system: bool = False

    @property
    def rank(self) -> int:
        return SYSTEM_RANK if self.system else rank(self.roles)


#: The command line's actor.
CLI = Actor("cli", system=True)


@dataclass
class Acting:
    """Who acts, and the three things every action does: check, refuse, audit."""

    actor: Actor
    pending: list[Future[Any]] = field(default_factory=list)  # mails and SMS on their way

    # Audit ------------------------------------------------------------------------
    def audit(self, action: str, outcome: str, account: Account | None, **details: Any) -> None:
        container().audit.record(
            f"admin_{action}",
            outcome,
            account_uuid=account.uuid if account else None,
            login=account.login if account else None,
            actor=self.actor.name,
            ip=self.actor.ip,
            details=details,
        )

    def refuse(self, action: str, account: Account | None, message: str, **params: Any) -> NoReturn:
        self.audit(action, "refused", account, reason=message % params if params else message)
        raise Refused(message, **params)

    def check(self, action: str, account: Account | None) -> None:
        """The actor's role allows ``action``, and reaches the target ``account``.

        ``account`` was read in this request, so its roles are current.
        """
        if not (self.actor.system or may(self.actor.roles, action)):
            self.refuse(action, account, N_("Your role does not allow this action."))
        if account is not None and not may_act_on(self.actor.rank, account.roles):
            self.refuse(
                action,
                account,
                N_(
                    "This account holds a console role equal to or above yours: "
                    "only an administrator with the command line can act on it."
                ),
            )
