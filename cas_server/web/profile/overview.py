"""/profile (what is on file), /profile/privacy (the notice), /profile/data (the export).

The overview shows the account as the server holds it, with a link to each
action; the joker question, never its answer. The export (GDPR right of
access) is a JSON attachment built from an allow-list
(:func:`cas_server.accounts.profile.export_document`), audited.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from flask import Response
from flask_babel import gettext as _
from flask_login import current_user

from ...accounts.charter import charter_for
from ...accounts.console import AuditFilter
from ...accounts.joker import QUESTIONS
from ...accounts.model import Account
from ...accounts.profile import RecoveryData, export_document, export_filename
from ...runtime.container import container
from ...runtime.sesame import language, sesame, utcnow
from ..labels import attribute_rows, profile_label
from .blueprint import bp
from .mfa_support import summary as mfa_summary
from .runtime import account, audit, page, profile, signed_in, when


def _recovery(who: Account) -> RecoveryData:
    info = sesame().store.recovery_info(who.uuid)
    return RecoveryData(
        email_verified_at=info.personal_email_verified_at,
        mobile_verified_at=info.mobile_verified_at,
        joker_question=info.joker_question if info.joker_question in QUESTIONS else None,
        has_joker_answer=bool(info.joker_answer_hash),
    )


def _charter(who: Account) -> dict[str, Any] | None:
    """The charter that applies to the account, and the last version accepted."""
    charter = charter_for(container().charters, who.profile.value)
    if charter is None:
        return None
    accepted = [a for a in profile().store.charter_acceptances(who.uuid) if a[0] == charter.id]
    return {
        "title": charter.title(language()),
        "version": accepted[0][1] if accepted else None,
        "accepted_at": when(accepted[0][2]) if accepted else None,
        "current": bool(accepted) and accepted[0][1] == charter.version,
    }


@bp.get("/", endpoint="overview")
@signed_in
def overview() -> Any:
    who = account()
    recovery = _recovery(who)
    details = profile().links.details(who.uuid)
    return page(
        "overview",
        a=who,
        # The institution's words (configuration, theme, catalog): web/labels.py.
        profile_label=profile_label(who.profile.value),
        attributes=attribute_rows(who.attributes),
        recovery=recovery,
        joker_question=_(QUESTIONS[recovery.joker_question]) if recovery.joker_question else None,
        charter=_charter(who),
        links=details.links if details else [],
        numbers=[
            (_("Student number"), who.student_number),
            (_("INE number"), who.ine),
            (_("Personnel number"), who.personnel_number),
        ],
        sms=sesame().sms.enabled,
        mfa=mfa_summary(who),
    )


@bp.get("/privacy")
def privacy() -> Any:
    """Public: the notice is for anyone, signed in or not."""
    s = profile().settings
    text = s.privacy_text(language())
    blocks = []
    for paragraph in (p.strip() for p in text.split("\n\n")):
        if paragraph.startswith("## "):
            blocks.append(("h2", paragraph[3:].strip()))
        elif paragraph:
            blocks.append(("p", " ".join(paragraph.split())))
    contact = s.dpo_contact
    return page(
        "privacy",
        blocks=blocks,
        dpo_contact=contact,
        dpo_mail="@" in contact and " " not in contact,
        signed_in=current_user.is_authenticated,
    )


@bp.get("/data")
@signed_in
def data() -> Any:
    return page("data", days=profile().settings.export_audit_days)


@bp.post("/data")
@signed_in
def data_download() -> Response:
    who = account()
    p = profile()
    c = container()
    recovery = _recovery(who)
    details = p.links.details(who.uuid)
    days = p.settings.export_audit_days
    generated = utcnow()
    events = (
        p.links.audit_events(
            AuditFilter(
                account_uuid=who.uuid,
                login=who.login,
                since=(generated - timedelta(days=days)).date(),
            )
        )
        if days
        else iter(())
    )
    document = export_document(
        who,
        recovery,
        joker_question_text=_(QUESTIONS[recovery.joker_question])
        if recovery.joker_question
        else None,
        charters=p.store.charter_acceptances(who.uuid),
        links=details.links if details else [],
        events=events,
        audit_days=days,
        generated_at=generated,
        institution=c.settings.institution_name,
    )
    audit("data_export", "success", who, audit_events=len(document["audit_events"]))
    body = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=False)
    name = export_filename(who.login, generated.date())
    response = Response(body + "\n", mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response
