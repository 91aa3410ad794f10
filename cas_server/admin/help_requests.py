"""The help desk's queue of help requests (#16): assign, link to an account, answer, close.

Shared by the console's pages (``web/admin/help_requests.py``) and ``cas-server
purge``. Each step is checked (the operator's role; for a link, the target
rule of :mod:`.acting`: no request is tied to an account the operator could
not act on), done with one conditional update of an open request, and audited
as ``help_request_<step>``. Acting on the linked account is the record's
business (its existing actions); this module only ties the two together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from flask import Flask, current_app

from ..accounts.console import may, may_act_on
from ..accounts.help_requests import (
    CANNED_ANSWERS,
    MAX_ANSWER,
    MAX_NOTE,
    HelpRequest,
    clean_long_text,
    may_change,
)
from ..accounts.i18n import N_
from ..accounts.identity import InputError
from ..accounts.model import Account
from ..runtime.container import container
from ..settings.help_requests import HelpRequestSettings, load_help_request_settings
from ..storage.sql.help_requests import SqlHelpRequestStore
from .acting import Acting, Refused

DAY = 86400.0
CLOSED = N_("This request is closed.")


class RequestClosed(Refused):
    """The request was closed (by someone else, a moment ago): 409 on the page."""


class TargetRefused(Refused):
    """The account holds a console role the operator does not outrank: 403 on the page."""


@dataclass
class HelpDesk:
    settings: HelpRequestSettings
    store: SqlHelpRequestStore


def help_desk() -> HelpDesk:
    return current_app.extensions["help_requests"]  # type: ignore[no-any-return]


def init_help_requests(app: Flask) -> HelpDesk:
    """Read ``[help_requests]`` once (from ``create_app``, through the Sésame and console
    blueprints' ``init_app``); the same object for both."""
    found: HelpDesk | None = app.extensions.get("help_requests")
    if found is not None:
        return found
    with app.app_context():
        c = container()
        desk = HelpDesk(
            settings=load_help_request_settings(c.settings.raw),
            store=SqlHelpRequestStore(c.engine),
        )
    app.extensions["help_requests"] = desk
    return desk


def audit_request(
    step: str,
    outcome: str,
    request: HelpRequest | None,
    account: Account | None = None,
    *,
    actor: str | None = None,
    ip: str | None = None,
    **details: Any,
) -> None:
    if request is not None:
        details = {"reference": request.reference, **details}
    container().audit.record(
        f"help_request_{step}",
        outcome,
        account_uuid=account.uuid if account else (request.account_uuid if request else None),
        login=account.login if account else None,
        actor=actor,
        ip=ip,
        details=details,
    )


def _now() -> float:
    return container().clock.now()


class HelpRequestActions(Acting):
    """One operator's steps on help requests; :meth:`Acting.check` for role and target."""

    def audit(self, action: str, outcome: str, account: Account | None, **details: Any) -> None:
        request = details.pop("request", None)
        audit_request(
            action,
            outcome,
            request,
            account,
            actor=self.actor.name,
            ip=self.actor.ip,
            **details,
        )

    def _refuse(
        self,
        step: str,
        request: HelpRequest,
        message: str,
        account: Account | None = None,
        kind: type[Refused] = Refused,
    ) -> NoReturn:
        self.audit(step, "refused", account, request=request, reason=message)
        raise kind(message)

    def _open(self, step: str, request: HelpRequest) -> None:
        if not (self.actor.system or may(self.actor.roles, "help_requests")):
            self._refuse(step, request, N_("Your role does not allow this action."))
        if not may_change(request):
            self._refuse(step, request, CLOSED, kind=RequestClosed)

    def assign(self, request: HelpRequest) -> None:
        self._open("assign", request)
        if not help_desk().store.assign(request.id, self.actor.name, _now()):
            self._refuse("assign", request, CLOSED, kind=RequestClosed)
        self.audit("assign", "success", None, request=request)

    def link(self, request: HelpRequest, account: Account) -> None:
        """Tie the request to ``account``: only one the operator may act on (target rule)."""
        self._open("link", request)
        if not self.actor.system and not may_act_on(self.actor.rank, account.roles):
            self._refuse(
                "link",
                request,
                N_(
                    "This account holds a console role equal to or above yours: "
                    "only an administrator with the command line can act on it."
                ),
                account,
                TargetRefused,
            )
        if not help_desk().store.link(
            request.id, account.uuid, account.login, self.actor.name, _now()
        ):
            self._refuse("link", request, CLOSED, kind=RequestClosed)
        self.audit("link", "success", account, request=request)

    def unlink(self, request: HelpRequest) -> None:
        self._open("link", request)
        if not help_desk().store.link(request.id, None, None, self.actor.name, _now()):
            self._refuse("link", request, CLOSED, kind=RequestClosed)
        self.audit("link", "cleared", None, request=request)

    def answer(self, request: HelpRequest, template: str, text: str) -> str:
        """Mail ``text`` (the operator's, from a canned answer or not) to the requester,
        in the language they wrote in; returns the address."""
        self._open("answer", request)
        if template and template not in CANNED_ANSWERS:
            self._refuse("answer", request, N_("Choose one of the answers offered."))
        try:
            body = clean_long_text("answer", text, MAX_ANSWER)
        except InputError as exc:
            raise Refused(exc.message) from None
        if not body:
            raise Refused(N_("Write the answer."))
        if not request.contact_email:
            self._refuse(
                "answer",
                request,
                N_("The requester gave no e-mail address: call them back instead."),
            )
        address = request.contact_email
        assert address is not None
        _send(self, request, address, body)
        if not help_desk().store.answer(request.id, body, self.actor.name, _now()):
            self._refuse("answer", request, CLOSED, kind=RequestClosed)
        self.audit("answer", "sent", None, request=request, template=template or None)
        return address

    def close(self, request: HelpRequest, note: str) -> None:
        self._open("close", request)
        try:
            cleaned = clean_long_text("note", note, MAX_NOTE)
        except InputError as exc:
            raise Refused(exc.message) from None
        if not help_desk().store.close(request.id, cleaned or None, self.actor.name, _now()):
            self._refuse("close", request, CLOSED, kind=RequestClosed)
        self.audit("close", "success", None, request=request)


def canned_text(key: str, request: HelpRequest, account: Account | None = None) -> str:
    """The canned answer ``key`` in the requester's language, to edit before sending."""
    from ..runtime.mail import render_message

    if key not in CANNED_ANSWERS:
        return ""
    c = container()
    message = render_message(
        f"help_answer_{key}",
        request.contact_email or "",
        request.language,
        institution_name=c.settings.institution_name,
        request=request,
        login=account.login if account else (request.login_hint or "…"),
        **_links(),
    )
    return message.body.strip("\n")


def _links() -> dict[str, str]:
    from werkzeug.routing import BuildError

    from ..runtime.sesame import public_link

    links = {"login_url": public_link("cas.login")}
    for name, endpoint in (
        ("password_url", "sesame.password"),
        ("identifier_url", "sesame.identifier"),
        ("activate_url", "sesame.activate"),
        ("help_url", "sesame.help_request"),
    ):
        try:
            links[name] = public_link(endpoint)
        except BuildError:
            links[name] = links["login_url"]
    return links


def _send(actions: Acting, request: HelpRequest, address: str, body: str) -> None:
    from ..runtime.mail import render_message

    sesame = current_app.extensions.get("sesame")
    if sesame is None:
        raise Refused(N_("The self-service module is not enabled."))
    c = container()
    message = render_message(
        "help_answer",
        address,
        request.language,
        institution_name=c.settings.institution_name,
        reference=request.reference,
        answer=body,
        **_links(),
    )
    actions.pending.append(sesame.outbox.send(message))


def purge_closed(now: float) -> int:
    """Remove requests closed more than ``retention_days`` ago (``cas-server purge``)."""
    desk = help_desk()
    removed = desk.store.purge(now - desk.settings.retention_days * DAY)
    if removed:
        audit_request("purge", "success", None, actor="cli", count=removed)
    return removed
