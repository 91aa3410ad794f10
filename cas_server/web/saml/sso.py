"""Single sign-on: ``/idp/metadata``, ``/idp/sso``, ``/idp/unsolicited``, ``/idp/resume``.

SAML core 3.4 and the bindings (saml-bindings 3.4 Redirect, 3.5 POST) on
the CAS session (the design's "one session"): a request is parsed and
checked (signature, destination, ACS, replay of its ID, SAML core 3.2.1),
then answered from the browser's SSO session exactly as a CAS service
would be: the built-in services ``saml-idp`` and ``saml-idp-mfa`` get a
service ticket through the same code (access rules, second factor,
surrogate opt-out, idle clock), validated in-process. ``ForceAuthn`` is
CAS's ``renew``, ``IsPassive`` its ``gateway`` (SAML core 3.4.1).

A POST from an SP's page is cross-site: the browser does not send the
SameSite=Lax ticket-granting cookie with it, so such a request goes
through ``/login`` (a top-level GET, which does), like a first sign-in.
"""

from __future__ import annotations

import logging

from flask import Response as FlaskResponse
from flask import redirect, request
from werkzeug.wrappers import Response

from ...protocol.cas.errors import SecondFactorRequired, ServiceNotAuthorized
from ...protocol.saml2.authn_context import decide
from ...protocol.saml2.errors import (
    BadRequest,
    NoPassive,
    RequestDenied,
    RequestReplayed,
    SamlError,
    UnknownServiceProvider,
)
from ...protocol.saml2.name_id import choose_format
from ...protocol.saml2.requests import REQUEST_ID_WINDOW, AuthnRequestInfo, replay_key
from ...runtime.container import container
from ..security import csrf
from . import pending
from .answer import Refused, answer, granted, idp, refused_page, signed_in
from .blueprint import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, MFA_SERVICE_ID, SERVICE_ID, bp
from .pages import answer_error, audit_refusal, error_page, page

log = logging.getLogger(__name__)
MAX_RELAY_STATE = 1024  # bytes; SAML bindings 3.4.3 says 80, SPs send more
MAX_MESSAGE = 512 * 1024


@bp.get("/metadata")
def metadata() -> Response:
    """Our EntityDescriptor, signed with the metadata key (SAML metadata 2.3)."""
    body = idp().metadata_xml()
    return FlaskResponse(body, content_type="application/samlmetadata+xml")


def _relay_state(values: dict[str, str]) -> str | None:
    relay = values.get("RelayState")
    if relay is not None and len(relay.encode("utf-8")) > MAX_RELAY_STATE:
        raise BadRequest("RelayState longer than 1024 bytes")
    return relay


def _parse() -> AuthnRequestInfo:
    """The AuthnRequest of either binding, checked by the binding (BadRequest…)."""
    if request.method == "POST":
        values = request.form.to_dict()
        binding = BINDING_HTTP_POST
    else:
        values = request.args.to_dict()
        binding = BINDING_HTTP_REDIRECT
    message = values.get("SAMLRequest")
    if not message or len(message) > MAX_MESSAGE:
        raise BadRequest("no SAMLRequest, or too large")
    relay = _relay_state(values)
    return idp().parse_authn_request(
        binding,
        message,
        relay,
        sig_alg=values.get("SigAlg"),
        signature=values.get("Signature"),
        query_string=request.query_string.decode("latin-1")
        if binding != BINDING_HTTP_POST
        else None,
    )


def _parse_safely() -> AuthnRequestInfo:
    try:
        return _parse()
    except SamlError:
        raise
    except Exception as exc:  # the binding promises BadRequest; never a 500 for input
        log.warning("SAML request could not be parsed: %s", exc.__class__.__name__)
        raise BadRequest(exc.__class__.__name__) from exc


def _check_replay(info: AuthnRequestInfo) -> None:
    """An AuthnRequest ID is answered once (SAML profiles 4.1.4.5, within the window)."""
    if info.request_id is None:
        return
    c = container()
    key = replay_key(info.sp_entity_id, info.request_id)
    if c.counters.hit(key, c.clock.now(), REQUEST_ID_WINDOW) > 1:
        raise RequestReplayed(f"request {info.request_id[:80]} already seen")


@bp.route("/sso", methods=["GET", "POST"])
def sso() -> Response:
    try:
        info = _parse_safely()
        _check_replay(info)
    except SamlError as exc:
        return error_page(exc)
    return start(info)


csrf.exempt(sso)


@bp.get("/unsolicited")
def unsolicited() -> Response:
    """IdP-initiated SSO, with Shibboleth's parameter names (``providerId``, ``shire``,
    ``target``): the SP must be known and ``shire`` one of its ACS URLs."""
    provider = request.args.get("providerId", "")
    shire = request.args.get("shire") or None
    target = request.args.get("target") or None
    try:
        if not provider or len(provider) > 1024:
            raise BadRequest("providerId missing or too long")
        if target is not None and len(target.encode("utf-8")) > MAX_RELAY_STATE:
            raise BadRequest("target longer than 1024 bytes")
        info = idp().unsolicited_request(provider, shire, target)
    except SamlError as exc:
        return error_page(exc)
    except Exception as exc:  # never a 500 for input
        log.warning("unsolicited request refused: %s", exc.__class__.__name__)
        return error_page(BadRequest(exc.__class__.__name__))
    return start(info)


def start(info: AuthnRequestInfo) -> Response:
    """The checks that need no session, then single sign-on or the way to ``/login``."""
    saml = idp()
    try:
        sp = saml.service_provider(info.sp_entity_id)
        if sp is None:
            raise UnknownServiceProvider(f"no metadata for {info.sp_entity_id[:200]}")
        policy = saml.settings.rules.policy_for(sp)
        decision = decide(info.requested_contexts, info.comparison, policy.mfa_required)
        choose_format(info.name_id_format, policy.name_id_formats)
        if info.is_passive and info.force_authn:
            raise NoPassive("ForceAuthn needs the credentials, IsPassive forbids asking")
    except SamlError as exc:
        return answer_error(info, exc)
    mfa = decision.needs_second_factor
    c = container()
    tgc = request.cookies.get(c.settings.tgc_name)
    if tgc and not info.force_authn:
        # Single sign-on in-process: the ticket is issued and validated in this request.
        service = pending.resume_url(None, mfa=mfa)
        registered = c.services.get(MFA_SERVICE_ID if mfa else SERVICE_ID)
        assert registered is not None  # added to the registry with the blueprint
        try:
            ticket = c.login.grant_from_session(tgc, service, registered)
        except ServiceNotAuthorized as exc:
            # Access rule or an operator acting as someone (surrogate, #15): as for CAS,
            # a page says so; a passive request gets the status instead (no page).
            if info.is_passive:
                return answer_error(info, RequestDenied(f"CAS refused: {exc.reason}"))
            audit_refusal(info, exc)
            return page("refused", 403)
        except SecondFactorRequired:
            if info.is_passive:
                return answer_error(info, NoPassive("a second factor would be asked"))
            return _to_login(info, mfa=True)
        if ticket is not None:
            try:
                subject = granted(ticket)
            except Refused as refused:
                return refused_page(refused)
            return answer(info, subject)
    return _to_login(info, mfa=mfa)


def _to_login(info: AuthnRequestInfo, *, mfa: bool) -> Response:
    """The CAS sign-in, coming back to ``/idp/resume`` with a ticket (or, passive, without)."""
    key = pending.seal(pending.PURPOSE_PENDING, {"r": pending.request_data(info)})
    service = pending.resume_url(key, mfa=mfa)
    return redirect(
        pending.login_url(service, renew=info.force_authn, gateway=info.is_passive), code=303
    )


def _resume(mfa: bool) -> Response:
    key = request.args.get("key")
    try:
        data = pending.unseal(pending.PURPOSE_PENDING, key)
        info = pending.request_from(data.get("r"))
        pending.use_once(data, pending.PURPOSE_PENDING)
    except pending.PendingExpired:
        return page("expired")
    ticket = request.args.get("ticket")
    if not ticket:
        # Gateway (IsPassive): back from /login without a session (SAML core 3.4.1).
        if info.is_passive:
            return answer_error(info, NoPassive("no SSO session"))
        return page("expired")
    try:
        subject = signed_in(ticket, pending.resume_url(key, mfa=mfa), renew=info.force_authn)
    except Refused as refused:
        return refused_page(refused)
    return answer(info, subject)


@bp.get("/resume")
def resume() -> Response:
    return _resume(mfa=False)


@bp.get("/resume/mfa")
def resume_mfa() -> Response:
    return _resume(mfa=True)
