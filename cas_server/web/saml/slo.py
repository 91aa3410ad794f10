"""``/idp/slo``: single logout (SAML profiles 4.4) on the CAS session.

- a **LogoutRequest** from an SP ends this browser's SSO session, and only
  when the NameID (and SessionIndex, when given) is one this server gave
  that SP in that very session: a request naming another person or
  another session ends nothing and gets a non-success status. The session
  ends as ``/logout`` ends it (CAS services told, the other SAML SPs
  framed); the SP gets its LogoutResponse once the frames have loaded;
- a **LogoutResponse** comes back inside one of those frames: a small
  "signed out" page, which this server's own pages may frame.

Cross-site POSTs carry no SameSite=Lax cookie: a POSTed LogoutRequest is
parsed, sealed and sent on to a GET of this endpoint, which has them.
"""

from __future__ import annotations

import logging

from flask import make_response, redirect, request, session, url_for
from werkzeug.wrappers import Response

from ...protocol.cas.tickets import ticket_digest
from ...protocol.saml2.errors import (
    STATUS_REQUESTER,
    STATUS_SUCCESS,
    UNKNOWN_PRINCIPAL,
    BadRequest,
    SamlError,
)
from ...runtime.container import container
from ...saml.idp import LogoutRequestInfo, Outgoing
from ..cas.login_flow import allow_front_channel, end_browser_session
from ..cas.login_support import WARN_COOKIE, clear_tgc, client_ip, cookie_path
from ..security import csrf
from ..theming import render_page
from . import pending
from .answer import idp
from .blueprint import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, bp
from .pages import error_page, frameable, page, send
from .participants import SERVICE_PREFIX
from .sso import MAX_MESSAGE, MAX_RELAY_STATE

log = logging.getLogger(__name__)
LOGOUT_LIFETIME = 300.0


def _values() -> tuple[str, dict[str, str]]:
    if request.method == "POST":
        return BINDING_HTTP_POST, request.form.to_dict()
    return BINDING_HTTP_REDIRECT, request.args.to_dict()


def _query() -> str | None:
    return request.query_string.decode("latin-1") if request.method == "GET" else None


def _checked(values: dict[str, str], name: str) -> tuple[str, str | None]:
    message = values.get(name) or ""
    relay = values.get("RelayState")
    if len(message) > MAX_MESSAGE:
        raise BadRequest(f"{name} too large")
    if relay is not None and len(relay.encode("utf-8")) > MAX_RELAY_STATE:
        raise BadRequest("RelayState longer than 1024 bytes")
    return message, relay


@bp.route("/slo", methods=["GET", "POST"])
def slo() -> Response:
    binding, values = _values()
    try:
        if "SAMLResponse" in values:
            message, relay = _checked(values, "SAMLResponse")
            idp().parse_logout_response(
                binding,
                message,
                relay,
                sig_alg=values.get("SigAlg"),
                signature=values.get("Signature"),
                query_string=_query(),
            )
            return frameable(make_response(*render_page("saml/signed_out.html")))
        if "key" in values and request.method == "GET":
            data = pending.unseal(pending.PURPOSE_LOGOUT, values["key"], LOGOUT_LIFETIME)
            info = pending.rebuild(LogoutRequestInfo, data.get("q"))
            pending.use_once(data, pending.PURPOSE_LOGOUT)
            return _logout_safely(info)
        message, relay = _checked(values, "SAMLRequest")
        if not message:
            raise BadRequest("no SAMLRequest nor SAMLResponse")
        info = idp().parse_logout_request(
            binding,
            message,
            relay,
            sig_alg=values.get("SigAlg"),
            signature=values.get("Signature"),
            query_string=_query(),
        )
    except pending.PendingExpired:
        return page("expired")
    except SamlError as exc:
        response = error_page(exc)
        return frameable(response) if "SAMLResponse" in values else response
    except Exception as exc:  # the binding promises BadRequest; never a 500 for input
        log.warning("SAML logout message refused: %s", exc.__class__.__name__)
        return error_page(BadRequest(exc.__class__.__name__))
    if request.method == "POST" and container().settings.tgc_name not in request.cookies:
        # A cross-site POST: on to a GET, which brings the SSO cookie.
        key = pending.seal(pending.PURPOSE_LOGOUT, {"q": pending.request_data(info)})
        return redirect(url_for("saml.slo", key=key), code=303)
    return _logout_safely(info)


def _logout_safely(info: LogoutRequestInfo) -> Response:
    try:
        return _logout(info)
    except SamlError as exc:  # e.g. the SP's metadata has no SingleLogoutService
        return error_page(exc)


csrf.exempt(slo)


def _is_ours(info: LogoutRequestInfo, handle: str) -> bool:
    """The NameID (and SessionIndex) this server gave that SP in this session."""
    sessions = container().saml_sessions
    if sessions is None:
        return False
    for p in sessions.participants(handle):
        if p.sp_entity_id != info.sp_entity_id or p.name_id != info.name_id:
            continue
        if not info.session_indexes or p.session_index in info.session_indexes:
            return True
    return False


def _logout(info: LogoutRequestInfo) -> Response:
    c = container()
    tgc = request.cookies.get(c.settings.tgc_name) or ""
    tgt = c.login.current_session(tgc) if tgc else None
    details = {"sp": info.sp_entity_id[:300]}
    if tgt is None:
        # Nothing to end in this browser: signed out already (SAML profiles 4.4.4.2).
        c.audit.record("saml_logout", "no_session", ip=client_ip(), details=details)
        return send(idp().logout_response(info, STATUS_SUCCESS))
    login = tgt.authentication.principal.id
    if not _is_ours(info, ticket_digest(tgc)):
        # Another person, another session, a NameID never given: nothing ends.
        c.audit.record("saml_logout", "refused", login=login, ip=client_ip(), details=details)
        # SAML core 3.2.2.2: the principal is unknown to us (in this session).
        return send(idp().logout_response(info, STATUS_REQUESTER, UNKNOWN_PRINCIPAL))
    outgoing = idp().logout_response(info, STATUS_SUCCESS)  # before: it may be refused
    front_channel = [
        r for r in end_browser_session(tgc) if r.service_id != SERVICE_PREFIX + info.sp_entity_id
    ]
    session.clear()
    c.audit.record("saml_logout", "success", login=login, ip=client_ip(), details=details)
    if not front_channel:
        response = send(outgoing)
    else:
        allow_front_channel(front_channel)
        if outgoing.binding == BINDING_HTTP_POST:
            key = pending.seal(pending.PURPOSE_LOGOUT, {"o": _outgoing_data(outgoing)})
            continue_url = url_for("saml.slo_return", key=key)
        else:
            continue_url = outgoing.url
        response = make_response(
            *render_page("logout.html", front_channel=front_channel, continue_url=continue_url)
        )
    clear_tgc(response)
    response.delete_cookie(WARN_COOKIE, path=cookie_path())
    return response


def _outgoing_data(outgoing: Outgoing) -> dict[str, object]:
    return {"binding": outgoing.binding, "url": outgoing.url, "fields": dict(outgoing.fields)}


@bp.get("/slo/return")
def slo_return() -> Response:
    """The SP's LogoutResponse by POST, once the logout frames have loaded."""
    try:
        data = pending.unseal(pending.PURPOSE_LOGOUT, request.args.get("key"), LOGOUT_LIFETIME)
        pending.use_once(data, pending.PURPOSE_LOGOUT)
        sent = data.get("o")
        if not isinstance(sent, dict):
            raise pending.PendingExpired("no answer")
        outgoing = Outgoing(
            binding=str(sent["binding"]), url=str(sent["url"]), fields=dict(sent["fields"])
        )
    except (pending.PendingExpired, KeyError, TypeError, ValueError):
        return page("expired")
    return send(outgoing)
