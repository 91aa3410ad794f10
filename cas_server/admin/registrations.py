"""The console's queue of self-registrations waiting for approval (``[registration]
require_approval``, issue #16): approve (the account is created, its login mailed) or
refuse with a reason (mailed to the person), each checked, done once and audited.

The action is allowed to ``admin`` and ``helpdesk`` (permission ``registrations``);
its target is the request named in the URL, which must still be waiting: a
decided or unknown request changes nothing (the store's conditional update). An
address that has an account by then gets none (refused, "address already in use").
"""

from __future__ import annotations

from typing import Any, Protocol

from ..accounts.i18n import N_
from ..accounts.registration import RegistrationRequest, RegistrationStatus
from ..runtime.container import container
from ..settings.registration import RegistrationSettings
from ..storage.sql.registration import AccountSpec, SqlRegistrationStore
from .acting import Acting

PERMISSION = "registrations"
MAX_REASON = 1000


class NotWaiting(LookupError):
    """No such request, or it is no longer waiting."""


class Runtime(Protocol):
    """What ``web.sesame.registration.Registration`` holds."""

    settings: RegistrationSettings
    store: SqlRegistrationStore

    @property
    def spec(self) -> AccountSpec: ...


def runtime() -> Runtime | None:
    """The ``[registration]`` module's objects (``web.sesame.registration``), or None
    when self-registration is off."""
    from flask import current_app

    found: Runtime | None = current_app.extensions.get("registration")
    if found is None or not found.settings.enabled:
        return None
    return found


def waiting(request_id: str) -> RegistrationRequest:
    r = runtime()
    found = r.store.get(request_id) if r is not None and len(request_id) <= 36 else None
    if found is None:
        raise NotWaiting(request_id)
    return found


def _utcnow() -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(container().clock.now(), UTC)


def _mail(acting: Acting, template: str, request: RegistrationRequest, **context: Any) -> None:
    """To the person, in the language they filled the form in."""
    from flask import current_app

    from ..runtime.mail import render_message
    from ..runtime.sesame import public_link

    s = current_app.extensions.get("sesame")
    if s is None:
        return
    c = container()
    message = render_message(
        template,
        request.email,
        request.language,
        institution_name=c.settings.institution_name,
        login_url=public_link("cas.login"),
        display_name=request.display_name,
        **context,
    )
    acting.pending.append(s.outbox.send(message))


def approve(acting: Acting, request_id: str) -> RegistrationRequest:
    """Create the account of a waiting request; :class:`~.acting.Refused` if not possible."""
    acting.check(PERMISSION, None)
    r = runtime()
    if r is None:
        raise NotWaiting(request_id)
    found = waiting(request_id)
    if found.status is not RegistrationStatus.AWAITING_APPROVAL:
        acting.refuse("registration_approve", None, N_("This request is no longer waiting."))
    outcome = r.store.approve(found.id, acting.actor.name, _utcnow(), r.spec)
    if outcome is None:
        acting.refuse("registration_approve", None, N_("This request is no longer waiting."))
    done = outcome.request
    if outcome.kind == "taken":
        acting.audit("registration_approve", "address_in_use", None, request=done.id)
        _mail(acting, "registration_refused", done, reason=N_("address already in use"))
        acting.refuse(
            "registration_approve",
            None,
            N_("This address has an account by now: no account was created."),
        )
    account = container().accounts.get(done.account_uuid or "")
    acting.audit("registration_approve", "success", account, request=done.id)
    _mail(acting, "registration_welcome", done, login=done.login)
    return done


def refuse(acting: Acting, request_id: str, reason: str) -> RegistrationRequest:
    """Refuse a waiting request; the reason is mailed and kept in the audit trail."""
    acting.check(PERMISSION, None)
    reason = " ".join(reason.split())
    if not reason:
        acting.refuse("registration_refuse", None, N_("Give the reason: it is sent to the person."))
    if len(reason) > MAX_REASON:
        acting.refuse("registration_refuse", None, N_("This value is too long."))
    r = runtime()
    if r is None:
        raise NotWaiting(request_id)
    found = waiting(request_id)
    done = r.store.refuse(found.id, acting.actor.name, reason, _utcnow())
    if done is None:
        acting.refuse("registration_refuse", None, N_("This request is no longer waiting."))
    acting.audit("registration_refuse", "success", None, request=done.id, reason=reason)
    _mail(acting, "registration_refused", done, reason=reason)
    return done
