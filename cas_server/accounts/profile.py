"""The profile page's rules that are not about the web: the data export, masked channels.

"Download my data" (GDPR right of access) lists what the server holds about
an account, field by field from an allow-list: never a password hash, a
joker answer (or its hash), an activation code or a token. Audit details
are copied without any key that could name a secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .console import AuditEvent, LinkedAccount
from .model import Account

EXPORT_FORMAT = "cas-server-account-data/1"
SECRET_WORDS = ("password", "hash", "token", "secret", "code", "answer", "ticket")


@dataclass(frozen=True)
class RecoveryData:
    """The recovery channels and the joker as the profile shows them."""

    email_verified_at: datetime | None
    mobile_verified_at: datetime | None
    joker_question: str | None  # a key of accounts.joker.QUESTIONS
    has_joker_answer: bool


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _safe_details(details: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in details.items()
        if not any(word in key.casefold() for word in SECRET_WORDS)
    }


def export_document(
    account: Account,
    recovery: RecoveryData,
    *,
    joker_question_text: str | None,
    charters: Iterable[tuple[str, str, datetime]],
    links: Iterable[LinkedAccount],
    events: Iterable[AuditEvent],
    audit_days: int,
    generated_at: datetime,
    institution: str,
) -> dict[str, Any]:
    """Everything held about the account, as JSON-ready data."""
    return {
        "format": EXPORT_FORMAT,
        "generated_at": _iso(generated_at),
        "institution": institution,
        "account": {
            "uuid": account.uuid,
            "login": account.login,
            "alias": account.alias,
            "external_id": account.external_id,
            "source": account.source.value,
            "profile": account.profile.value,
            "status": account.status.value,
            "given_name": account.given_name,
            "family_name": account.family_name,
            "birth_date": _iso(account.birth_date),
            "student_number": account.student_number,
            "ine": account.ine,
            "personnel_number": account.personnel_number,
            "created_at": _iso(account.created_at),
            "modified_at": _iso(account.modified_at),
            "last_login_at": _iso(account.last_login_at),
            "password_changed_at": _iso(account.password_changed_at),
            "password_expires_at": _iso(account.password_expires_at),
            "must_change_password": account.must_change_password,
        },
        "attributes": {name: list(values) for name, values in account.attributes.items()},
        "roles": sorted(account.roles),
        "recovery": {
            "personal_email": account.personal_email,
            "personal_email_verified_at": _iso(recovery.email_verified_at),
            "mobile": account.mobile,
            "mobile_verified_at": _iso(recovery.mobile_verified_at),
            "joker_question": recovery.joker_question,
            "joker_question_text": joker_question_text,
            # The answer is stored only as a hash, and never given back.
            "joker_answer_set": recovery.has_joker_answer,
        },
        "charter_acceptances": [
            {"charter": charter, "version": version, "accepted_at": _iso(at)}
            for charter, version, at in charters
        ],
        "linked_accounts": [
            {
                "login": link.login,
                "display_name": link.display_name,
                "role": "primary" if link.primary else "linked",
                "linked_at": _iso(link.created_at),
                "linked_by": link.created_by,
            }
            for link in links
        ],
        "audit_period_days": audit_days,
        "audit_events": [
            {
                "at": _iso(event.at),
                "action": event.action,
                "outcome": event.outcome,
                "actor": event.actor,
                "ip": event.ip,
                "details": _safe_details(event.details),
            }
            for event in events
        ],
    }


def export_filename(login: str, day: date) -> str:
    """``account-data-jdupont-2026-09-01.json``: letters, digits, dots and hyphens only."""
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in ".-_") else "-" for ch in login)
    return f"account-data-{safe[:64] or 'account'}-{day.isoformat()}.json"
