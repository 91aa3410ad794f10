"""Impersonation (surrogate sign-in, #15): a help-desk operator signs in as someone.

Off by default (``[sessions] impersonation``). Only an operator holding the
``impersonate`` right on top of a console rank, after stating a reason, at
most :data:`LIMIT` times an hour (reserved before anything is checked); never
as an account holding any console role, nor as one that cannot sign in
itself (not active, locked after failures). The session is the target's
with ``Authentication.surrogate`` set to the operator's login: every ticket
issued in it tells the service (``surrogateUser``, ``surrogatePrincipal``),
services may refuse it (``surrogate = false``), it lasts
``impersonation_minutes`` at most, and the person is told by mail. Audited at
start (``impersonation_start``), at each ticket (``impersonation_ticket``,
``web/cas/login_support``) and at its end (``impersonation_end``,
``web/cas/login_flow.end_browser_session``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from ..accounts.console import CONSOLE_ROLES, may
from ..accounts.i18n import N_
from ..accounts.model import Account, Status
from ..accounts.throttle import Limit, Throttle
from ..protocol.cas.tickets import Principal, SessionClient, TicketGrantingTicket, ticket_digest
from ..runtime.container import container
from .acting import Acting, Refused
from .actions import Actions

RIGHT = "impersonate"
#: Impersonations one operator may start in an hour.
LIMIT = Limit(attempts=10, window=3600.0, lock=3600.0)
MAX_REASON = 500


class NotEnabled(Exception):
    """``[sessions] impersonation`` is off: the pages do not exist (404)."""


@dataclass
class Impersonation(Acting):
    def _record(self, action: str, outcome: str, account: Account | None, **details: Any) -> None:
        container().audit.record(
            action,
            outcome,
            account_uuid=account.uuid if account else None,
            login=account.login if account else None,
            actor=self.actor.name,
            ip=self.actor.ip,
            details=details,
        )

    def _refuse(self, account: Account | None, message: str, **params: Any) -> NoReturn:
        self._record(
            "impersonation_start",
            "refused",
            account,
            reason=message % params if params else message,
        )
        raise Refused(message, **params)

    def start(
        self, target_login: str, reason: str, client: SessionClient | None = None
    ) -> TicketGrantingTicket:
        """The target's new SSO session, marked as the operator's; the caller puts it in
        the browser in place of the operator's own (which it ends first)."""
        c = container()
        settings = c.sessions_settings
        if not settings.impersonation:
            raise NotEnabled
        if not (self.actor.system or may(self.actor.roles, RIGHT)):
            self._refuse(None, N_("Your role does not allow this action."))
        now = c.clock.now()
        # Reserved before anything is looked at, and kept: each start counts.
        if not Throttle(c.counters, LIMIT, "impersonate").reserve(self.actor.name, now).granted:
            self._refuse(None, N_("Too many impersonations in the last hour: try again later."))
        target = c.accounts.find_by_login(target_login.strip()) if target_login.strip() else None
        if target is None:
            self._refuse(
                None, N_("No account has the login or alias %(login)s."), login=target_login[:128]
            )
        reason = " ".join(reason.split())[:MAX_REASON]
        if not reason:
            self._refuse(target, N_("Give the reason for signing in as this person."))
        if target.login == self.actor.name:
            self._refuse(target, N_("You cannot sign in as yourself."))
        if target.roles & CONSOLE_ROLES:
            self._refuse(
                target,
                N_("This account holds a console role: nobody may sign in as it."),
            )
        if target.status is not Status.ACTIVE:
            self._refuse(target, N_("This account is not active: nobody may sign in as it."))
        if Actions(self.actor).sign_in_suspended_until(target) is not None:
            self._refuse(
                target,
                N_(
                    "Sign-in to this account is suspended after repeated failures: unlock it first."
                ),
            )
        lifetime = settings.impersonation_minutes * 60.0
        tgt = c.login.create_session(
            Principal(target.login, target.principal_attributes()),
            idle_timeout=lifetime,
            hard_timeout=lifetime,
            surrogate=self.actor.name,
            client=client,
        )
        self._record(
            "impersonation_start",
            "success",
            target,
            reason=reason,
            minutes=settings.impersonation_minutes,
            session=ticket_digest(tgt.id)[:16],
        )
        self.tell_target(target, settings.impersonation_minutes, reason)
        return tgt

    def tell_target(self, account: Account, minutes: int, reason: str) -> None:
        """``mail/impersonation.txt`` to the address on file, in the institution's language
        (best effort: without an address or mail, the trail still has it)."""
        from flask import current_app

        from ..runtime.mail import render_message
        from ..runtime.sesame import public_link, utcnow

        sesame = current_app.extensions.get("sesame")
        if sesame is None or not account.personal_email:
            return
        c = container()
        message = render_message(
            "impersonation",
            account.personal_email,
            c.settings.default_language,
            institution_name=c.settings.institution_name,
            login_url=public_link("cas.login"),
            display_name=account.display_name,
            login=account.login,
            operator=self.actor.name,
            minutes=minutes,
            reason=reason,
            when=utcnow(),
        )
        self.pending.append(sesame.outbox.send(message))
