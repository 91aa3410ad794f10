"""The answer to a service provider once the person is signed in through CAS.

The CAS sign-in (single sign-on, renew, second factor, surrogate rules)
has happened: :func:`signed_in` checks the service ticket in-process and
that this browser's SSO session is the ticket's person. Then the rules of
:mod:`cas_server.protocol.saml2` choose the release policy, the
authentication context, the NameID and the attributes; the consent page
is shown when the policy asks for it; the signed Response goes to the
ACS, the SP is remembered with the SSO session (single logout), and the
audit trail records the SP, the NameID kind and the attribute *names*.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from flask import redirect, request, url_for
from werkzeug.wrappers import Response

from ...accounts.model import Account, Status
from ...protocol.cas.errors import CasError
from ...protocol.cas.tickets import (
    Authentication,
    ServiceTicket,
    TicketGrantingTicket,
    ticket_digest,
)
from ...protocol.cas.validation import ValidationRequest
from ...protocol.saml2 import identifiers as ids
from ...protocol.saml2.attributes import resolve
from ...protocol.saml2.authn_context import ContextDecision, decide
from ...protocol.saml2.consent import consent_digest, consent_needed
from ...protocol.saml2.errors import (
    InvalidNameIdPolicy,
    NoAuthnContext,
    SamlError,
    UnknownServiceProvider,
)
from ...protocol.saml2.name_id import EMAIL, PERSISTENT, choose_format
from ...protocol.saml2.policy import ReleasePolicy, ServiceProvider
from ...protocol.saml2.ports import SamlParticipant
from ...protocol.saml2.requests import AuthnRequestInfo
from ...runtime.container import container
from ...saml.idp import SamlIdentityProvider
from ..cas.login_support import client_ip
from . import pending
from .pages import answer_error, page, send


class Refused(Exception):
    """The CAS side says no: a page (``kind`` of :data:`pages.TITLES`) with ``status``."""

    def __init__(self, kind: str, status: int) -> None:
        super().__init__(kind)
        self.kind = kind
        self.status = status


@dataclass(frozen=True)
class Subject:
    """Who is signing in: the account, and this browser's live SSO session (its TGT id,
    the authentication it carries, when it ends at the latest)."""

    account: Account
    tgt_id: str
    authentication: Authentication
    expires_at: float

    @classmethod
    def of_session(cls, account: Account, tgt: TicketGrantingTicket) -> Subject:
        return cls(account, tgt.id, tgt.authentication, tgt.expires_at)


@dataclass(frozen=True)
class Release:
    """What the SP is given, decided by the rules."""

    sp: ServiceProvider
    policy: ReleasePolicy
    decision: ContextDecision
    name_id_format: str
    attributes: Mapping[str, tuple[str, ...]]
    digest: str
    encrypt: bool


def idp() -> SamlIdentityProvider:
    saml = container().saml
    assert saml is not None  # the blueprint is registered only when [saml] enabled
    return saml


def browser_subject(login: str | None = None) -> Subject:
    """This browser's SSO session and its account (``login``'s, when given)."""
    c = container()
    tgt = c.login.current_session(request.cookies.get(c.settings.tgc_name))
    if tgt is None:
        raise Refused("expired", 400)
    principal = tgt.authentication.principal.id
    if login is not None and principal != login:
        raise Refused("refused", 403)
    account = c.accounts.find_by_login(principal)
    if account is None or account.status is not Status.ACTIVE:
        raise Refused("refused", 403)
    return Subject.of_session(account, tgt)


def signed_in(ticket: str, service: str, *, renew: bool) -> Subject:
    """The service ticket, validated in-process for ``service``, and the browser's session
    of the same person: a ticket carried to another browser opens nothing."""
    c = container()
    try:
        assertion = c.validator.validate(
            ValidationRequest(service=service, ticket=ticket, renew=renew)
        )
    except CasError as exc:
        raise Refused("expired", 400) from exc
    return browser_subject(assertion.user)


def granted(ticket: ServiceTicket) -> Subject:
    """Single sign-on in-process: the ticket just granted from this browser's session is
    validated at once (the same checks as any CAS service's), and the session is the
    ticket's (its end: at most the longest session lifetime, for single logout)."""
    c = container()
    try:
        assertion = c.validator.validate(
            ValidationRequest(service=ticket.service, ticket=ticket.id)
        )
    except CasError as exc:
        raise Refused("expired", 400) from exc
    account = c.accounts.find_by_login(assertion.user)
    if account is None or account.status is not Status.ACTIVE:
        raise Refused("refused", 403)
    lifetimes = c.login.lifetimes
    longest = max(lifetimes.tgt_hard, lifetimes.tgt_long_term)
    return Subject(account, ticket.tgt_id, ticket.authentication, c.clock.now() + longest)


def release_for(info: AuthnRequestInfo, subject: Subject) -> Release:
    """The rules' decisions for this request and person (SamlError when refused)."""
    saml = idp()
    settings = saml.settings
    sp = saml.service_provider(info.sp_entity_id)
    if sp is None:
        raise UnknownServiceProvider(f"no metadata for {info.sp_entity_id[:200]}")
    policy = settings.rules.policy_for(sp)
    decision = decide(info.requested_contexts, info.comparison, policy.mfa_required)
    name_id_format = choose_format(info.name_id_format, policy.name_id_formats)
    identifiers = ids.identifiers_for(
        settings.salt, sp.entity_id, subject.account.uuid, settings.scope
    )
    principal = subject.authentication.principal
    attributes = resolve(
        principal.attributes,
        settings.attribute_map,
        settings.rules.released(sp, policy),
        login=principal.id,
        scope=settings.scope,
        identifiers=identifiers,
    )
    encrypt = policy.encrypts(sp)  # "always" without a key: RequestDenied
    return Release(
        sp=sp,
        policy=policy,
        decision=decision,
        name_id_format=name_id_format,
        attributes=attributes,
        digest=consent_digest(sp.entity_id, attributes),
        encrypt=encrypt,
    )


def _name_id(release: Release, subject: Subject) -> str:
    """Transient by default; persistent: salted per SP, never the login (core 8.3.7)."""
    settings = idp().settings
    if release.name_id_format == PERSISTENT:
        return ids.persistent_id(settings.salt, release.sp.entity_id, subject.account.uuid)
    if release.name_id_format == EMAIL:
        mail = subject.authentication.principal.attributes.get("mail") or ()
        if not mail:
            raise InvalidNameIdPolicy("no e-mail address for an emailAddress NameID")
        return mail[0]
    return ids.transient_id()


def answer(info: AuthnRequestInfo, subject: Subject) -> Response:
    """The signed Response to the SP, or the consent page first, or the SP's error status."""
    login = subject.account.login
    try:
        release = release_for(info, subject)
        if release.decision.needs_second_factor and not subject.authentication.second_factor:
            # The mfa service refused a ticket without one: defence in depth.
            raise NoAuthnContext("the session has no second factor")
        if _consent_asked(release, subject):
            key = pending.seal(
                pending.PURPOSE_CONSENT,
                {
                    "r": pending.request_data(info),
                    "l": login,
                    "h": ticket_digest(subject.tgt_id),
                },
            )
            return redirect(url_for("saml.consent", key=key), code=303)
        return deliver(info, subject, release)
    except SamlError as exc:
        return answer_error(info, exc, login)


def _consent_asked(release: Release, subject: Subject) -> bool:
    c = container()
    if c.saml_consents is None or not (release.policy.consent and idp().settings.consent):
        return False  # no consent to look up (the SSO's hot path)
    stored = c.saml_consents.get(subject.account.uuid, release.sp.entity_id)
    enabled = idp().settings.consent
    return consent_needed(
        release.policy.consent, enabled, stored.digest if stored else None, release.digest
    )


def deliver(info: AuthnRequestInfo, subject: Subject, release: Release) -> Response:
    """Sign and send the Response; remember the SP with the session; audit it."""
    c = container()
    saml = idp()
    name_id = _name_id(release, subject)
    authentication = subject.authentication
    context = release.decision.asserted(authentication.second_factor)
    session_index = "_" + secrets.token_hex(20)
    outgoing = saml.authn_response(
        info,
        name_id=name_id,
        name_id_format=release.name_id_format,
        attributes=release.attributes,
        authn_context=context,
        authn_instant=authentication.authenticated_at,
        session_index=session_index,
        encrypt=release.encrypt,
    )
    now = c.clock.now()
    if c.saml_sessions is not None:
        c.saml_sessions.record(
            SamlParticipant(
                session_handle=ticket_digest(subject.tgt_id),
                sp_entity_id=release.sp.entity_id,
                name_id=name_id,
                name_id_format=release.name_id_format,
                session_index=session_index,
                created_at=now,
            ),
            subject.expires_at,
        )
    c.audit.record(
        "saml_assertion",
        "success",
        account_uuid=subject.account.uuid,
        login=subject.account.login,
        actor=authentication.surrogate,
        ip=client_ip(),
        details={
            "sp": release.sp.entity_id[:300],
            "name_id_format": release.name_id_format,
            "attributes": list(release.attributes),  # names, never values
            "context": context,
            **({"encrypted": True} if release.encrypt else {}),
        },
    )
    return send(outgoing)


def refused_page(refused: Refused) -> Response:
    return page(refused.kind, refused.status)
