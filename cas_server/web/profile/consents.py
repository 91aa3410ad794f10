"""/profile/consents ("Services and consents", #18): the consents given to SAML service
providers, and withdrawing one.

A consent is remembered per SP for the attribute names shown on the consent
page (``/idp/consent``); withdrawing it means the page is shown again at the
next sign-in to that SP. The list shows each SP by its metadata's name, the
attributes by their labels, and when the consent was given. Withdrawing is
CSRF-protected (the app's CSRFProtect) and audited (``saml_consent_revoke``).
Without ``[saml] enabled`` the pages do not exist (404).
"""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, request, url_for
from flask_babel import gettext as _

from ...protocol.saml2.attributes import label
from ...protocol.saml2.ports import ConsentStore
from ...runtime.container import container
from .blueprint import bp
from .runtime import account, audit, page, signed_in, when

MAX_ENTITY_ID = 1024


def _store() -> ConsentStore:
    c = container()
    if c.saml is None or c.saml_consents is None:
        abort(404)
    return c.saml_consents


@bp.context_processor
def _saml_consents() -> dict[str, Any]:
    """The menu shows "Services and consents" only with the SAML identity provider."""
    c = container()
    return {"saml_consents": c.saml is not None and c.saml_consents is not None}


@bp.get("/consents", endpoint="consents")
@signed_in
def consents() -> Any:
    store = _store()
    saml = container().saml
    assert saml is not None
    rows = []
    for consent in store.list_for(account().uuid):
        sp = saml.service_provider(consent.sp_entity_id)
        rows.append(
            {
                "entity_id": consent.sp_entity_id,
                "name": sp.name if sp is not None else consent.sp_entity_id,
                "attributes": [_(label(name)) for name in consent.attributes],
                "given": when(consent.given_at),
            }
        )
    rows.sort(key=lambda r: str(r["name"]).casefold())
    done = _("The consent has been withdrawn.") if request.args.get("done") == "revoked" else None
    return page("consents", consents=rows, done=done)


@bp.post("/consents/revoke", endpoint="consents_revoke")
@signed_in
def revoke() -> Any:
    store = _store()
    entity_id = str(request.form.get("sp", ""))
    if not entity_id or len(entity_id) > MAX_ENTITY_ID:
        abort(400)
    who = account()
    if not store.revoke(who.uuid, entity_id):
        abort(404)  # not a consent of this account: nothing to withdraw
    audit("saml_consent_revoke", "success", who, sp=entity_id[:300])
    return redirect(url_for("profile.consents", done="revoked"), code=303)
