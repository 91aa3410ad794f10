"""``/idp/consent``: what will be released to a service provider, before it is.

Shown when the SP's release policy asks for consent and ``[saml] consent``
is on, unless the person remembered a consent to the same attributes
(:func:`consent_digest` over their names: a new attribute asks again).
Accept once, accept and remember (revocable from ``/profile/consents``),
or refuse (the SP gets ``RequestDenied``). The page's state is a sealed,
single-use key bound to this browser's SSO session; the form is
CSRF-protected.
"""

from __future__ import annotations

from typing import Any

from flask import make_response, request
from werkzeug.wrappers import Response

from ...protocol.cas.tickets import ticket_digest
from ...protocol.saml2.attributes import label
from ...protocol.saml2.errors import RequestDenied, SamlError
from ...protocol.saml2.ports import Consent
from ...runtime.container import container
from ..cas.login_support import client_ip
from ..theming import render_page
from . import pending
from .answer import Refused, Release, Subject, browser_subject, deliver, refused_page, release_for
from .blueprint import bp
from .pages import answer_error, page

DECISIONS = ("accept", "remember", "refuse")
CONSENT_LIFETIME = 900.0


def _state(key: str | None) -> tuple[dict[str, Any], Subject]:
    data = pending.unseal(pending.PURPOSE_CONSENT, key, CONSENT_LIFETIME)
    subject = browser_subject(data.get("l") if isinstance(data.get("l"), str) else "")
    if data.get("h") != ticket_digest(subject.tgt_id):
        raise Refused("expired", 400)  # another SSO session since the page was asked for
    return data, subject


def _rows(release: Release) -> list[dict[str, Any]]:
    return [
        {"name": friendly, "label": label(friendly), "values": values}
        for friendly, values in release.attributes.items()
    ]


def _page(key: str, release: Release, status: int = 200, error: bool = False) -> Response:
    return make_response(
        *render_page(
            "saml/consent.html",
            status=status,
            key=key,
            sp_name=release.sp.name,
            sp_entity_id=release.sp.entity_id,
            attributes=_rows(release),
            remember_offered=container().saml_consents is not None,
            error=error,
        )
    )


@bp.route("/consent", methods=["GET", "POST"])
def consent() -> Response:
    key = request.values.get("key")
    try:
        data, subject = _state(key)
        info = pending.request_from(data.get("r"))
    except pending.PendingExpired:
        return page("expired")
    except Refused as refused:
        return refused_page(refused)
    assert key is not None
    try:
        release = release_for(info, subject)
    except SamlError as exc:
        return answer_error(info, exc, subject.account.login)
    if request.method == "GET":
        return _page(key, release)
    decision = request.form.get("decision")
    if decision not in DECISIONS:
        return _page(key, release, status=400, error=True)
    try:
        pending.use_once(data, pending.PURPOSE_CONSENT)
    except pending.PendingExpired:
        return page("expired")
    c = container()
    details = {"sp": release.sp.entity_id[:300], "attributes": list(release.attributes)}
    who = {"account_uuid": subject.account.uuid, "login": subject.account.login}
    if decision == "refuse":
        c.audit.record("saml_consent", "refused", ip=client_ip(), details=details, **who)
        return answer_error(info, RequestDenied("consent refused"), subject.account.login)
    if decision == "remember" and c.saml_consents is not None:
        c.saml_consents.remember(
            subject.account.uuid,
            Consent(
                sp_entity_id=release.sp.entity_id,
                digest=release.digest,
                attributes=tuple(release.attributes),
                given_at=c.clock.now(),
            ),
        )
    c.audit.record(
        "saml_consent",
        "remembered" if decision == "remember" else "accepted",
        ip=client_ip(),
        details=details,
        **who,
    )
    try:
        return deliver(info, subject, release)
    except SamlError as exc:
        return answer_error(info, exc, subject.account.login)
